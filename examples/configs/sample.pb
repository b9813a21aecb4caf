"–
)
$3599588a-17d3-4d02-aae1-bcefe3706cf13	ubuntu-vm(‚+
$7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10/‚-
$7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f13/data"Ç
)
$3599588a-17d3-4d02-aae1-bcefe3706cf21	debian-vm(R‚)
$7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11/‚,
$7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f14/ref‚-
$7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f13/data"Ò
)
$3599588a-17d3-4d02-aae1-bcefe3706cf32nginx"p
n
)
$d65c67dc-f251-4b93-9d53-f1f84a92ea8b1library/nginx:1.27-alpine 2$8e6d22d4-4890-4e0d-a574-0d2e757f951b(‚)
$7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f12/"à
)
$3599588a-17d3-4d02-aae1-bcefe3706cf45	legacy-vm"Ô
Ç
)
$e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a511+alpine/3.20/alpine-virt-3.20.3-x86_64.qcow2@15FC82A8D47CAEBC3B3483F5FC9B2E9FA866EC789CC57BB6B79063795AA33A9E 2$5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11@€€€ @HP€€€€"5
+
)
$e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a521@P€€€€(R"2026-11-01T10:00:00Z2Qhttp://images.example.net*edge/images¢$5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d112Cdocker://index.docker.io¢$8e6d22d4-4890-4e0d-a574-0d2e757f951b¢ß
$0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01$5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d113ubuntu/jammy/ubuntu-22.04-server-cloudimg-amd64.img *@62e95cf272e892b95af3f55895a829544424def1c9f65cc6dc6f0d63c0a56e690€€€æBubuntu-22.04-rawH¢Û
$1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e022debian/bookworm/debian-12-genericcloud-amd64.qcow2 *@4a24202fa3c31a16093e1c4c08dd2150845e955794593aa6c608623e2dc364590€€È£Bdebian-12-qcow2Z$5b8c3c1e-4f0e-4a8e-9f4d-2a7c1b6e0d11¢p
$2e4f6a8c-0b1d-4e3f-9a5b-7c9d1e3f5a03$8e6d22d4-4890-4e0d-a574-0d2e757f951blibrary/nginx:1.27-alpine Bnginxªe
$7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f10($0a5e7c9d-3b21-4c8f-8e1a-6f2d4b9c7e01 (€€€€(:ubuntu-rootªc
$7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f11($1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e02(€€€€:debian-rootªd
$7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f14($1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e020:debian-referenceª^
$7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f12($2e4f6a8c-0b1d-4e3f-9a5b-7c9d1e3f5a03:nginx-rootfsª?
$7d1f0c2a-9e3b-4d5c-8a6f-1b2c3d4e5f13(€€€€:shared-data@È