package inspector

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/edgewright/edgewright/layout"
	"github.com/edgewright/edgewright/materials"
)

// parsedName is what a volume file's name says.
type parsedName struct {
	id     string
	gen    int64
	ext    string
	temp   bool
	legacy *materials.LegacyName
	// snap is the snapshot uuid of a raw or container snapshot copy
	// (<uuid>#<generation>@<snapshot>.<format>), rollback is set for a
	// rollback's restored copy (@rollback...tmp); id and gen are then the
	// volume's.
	snap     string
	rollback bool
	// reason is why the name could not be parsed; "" when it was.
	reason string
}

const tmpSuffix = ".tmp"

// untrusted says why a directory entry's name must not be used as a path
// component or parsed at all, or "" when it is fine.
func untrusted(name string) string {
	switch {
	case name == "" || name == "." || name == "..":
		return "name is empty or a dot entry"
	case strings.Contains(name, ".."):
		return "name contains '..', not trusted"
	case strings.ContainsAny(name, "/\\"):
		return "name contains a path separator, not trusted"
	case !utf8.ValidString(name):
		return "name is not valid UTF-8, not trusted"
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return "name contains a control character, not trusted"
		}
	}
	return ""
}

// knownExt maps a volume file extension to the format it claims.
var knownExt = map[string]materials.Format{
	"raw": materials.FormatRaw, "qcow2": materials.FormatQcow2, "qcow": materials.FormatQcow,
	"container": materials.FormatContainer, "vhd": materials.FormatVHD, "vmdk": materials.FormatVMDK,
	"vhdx": materials.FormatVHDX, "iso": materials.FormatISO,
}

// splitTmpExt strips `.tmp` and splits off the format extension.
func splitTmpExt(name string) (base, ext string, temp bool, reason string) {
	if strings.HasSuffix(name, tmpSuffix) {
		temp = true
		name = strings.TrimSuffix(name, tmpSuffix)
	}
	dot := strings.LastIndexByte(name, '.')
	if dot < 0 {
		return "", "", temp, "name has no format extension"
	}
	ext = name[dot+1:]
	if _, ok := knownExt[ext]; !ok {
		return "", "", temp, "unknown format extension " + strconv.Quote(ext)
	}
	return name[:dot], ext, temp, ""
}

// parseVolumeName parses the new layout `<uuid>#<generation>.<ext>[.tmp]`.
// Only the canonical spelling is accepted, so that the name the assembler
// would compute for the key is the name found.
func parseVolumeName(name string) parsedName {
	base, ext, temp, reason := splitTmpExt(name)
	p := parsedName{ext: ext, temp: temp}
	if reason != "" {
		p.reason = reason + "; want <uuid>#<generation>.<format>"
		return p
	}
	id, gen, ok := strings.Cut(base, "#")
	if !ok {
		p.reason = "name has no '#<generation>'; want <uuid>#<generation>.<format>"
		return p
	}
	if !isUUID(id) {
		p.reason = "volume id " + strconv.Quote(id) + " is not a UUID"
		return p
	}
	if strings.ToLower(id) != id {
		// The assembler names volumes by the lower-case id the architect
		// draws; another spelling is not one of ours.
		p.reason = "volume id " + strconv.Quote(id) + " is not lower case"
		return p
	}
	g, ok := canonicalUint(gen)
	if !ok {
		p.reason = "generation " + strconv.Quote(gen) + " is not a canonical non-negative integer"
		return p
	}
	p.id, p.gen = id, g
	return p
}

// parseNewLayoutName parses a name in a new-layout volume directory: a
// volume (parseVolumeName), or a snapshot copy or rollback copy beside one
// by package layout's snapshot naming rule.
func parseNewLayoutName(name string) parsedName {
	sf, ok := layout.ParseSnapshotFileName(name)
	if !ok {
		return parseVolumeName(name)
	}
	vol := sf.Volume
	if sf.Temp {
		vol += tmpSuffix
	}
	p := parseVolumeName(vol)
	if p.reason != "" {
		p.reason = "snapshot of an unparsable volume name: " + p.reason
		return p
	}
	p.snap, p.rollback = sf.Snapshot, sf.Rollback
	return p
}

// parseLegacyName parses the old layout `<sha256>-<app-uuid>[#<purge>].<ext>[.tmp]`.
func parseLegacyName(name string) parsedName {
	base, ext, temp, reason := splitTmpExt(name)
	p := parsedName{ext: ext, temp: temp}
	if reason != "" {
		p.reason = reason + "; want <sha256>-<app-uuid>[#<purge>].<format>"
		return p
	}
	if len(base) < 64+1+36 || base[64] != '-' || !isHex(base[:64]) {
		p.reason = "name does not start with <sha256>-; want <sha256>-<app-uuid>[#<purge>].<format>"
		return p
	}
	app, purge, hasPurge := strings.Cut(base[65:], "#")
	if !isUUID(app) {
		p.reason = "app id " + strconv.Quote(app) + " is not a UUID"
		return p
	}
	// Old agents' names are matched against the config by meaning, so the
	// spelling is normalised.
	l := &materials.LegacyName{SHA256: strings.ToLower(base[:64]), App: strings.ToLower(app)}
	if hasPurge {
		n, ok := canonicalUint(purge)
		if !ok {
			p.reason = "purge counter " + strconv.Quote(purge) + " is not a canonical non-negative integer"
			return p
		}
		l.Purge = n
	}
	p.legacy = l
	return p
}

func canonicalUint(s string) (int64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// hexDigit marks the bytes of [0-9a-fA-F]; names are checked per byte
// for every file of a large tree.
var hexDigit = func() (t [256]bool) {
	for _, c := range "0123456789abcdefABCDEF" {
		t[c] = true
	}
	return t
}()

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if !hexDigit[s[i]] {
			return false
		}
	}
	return true
}

// isLowerHex64 is a sha256 digest's hex spelling.
func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// isUUID accepts the 36-character hyphenated spelling.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !hexDigit[s[i]] {
				return false
			}
		}
	}
	return true
}

// VolumeName is what a new-layout volume file's name says, by the rule
// the survey applies (the in-memory device names its files by it too).
type VolumeName struct {
	ID         string
	Generation int64
	Format     materials.Format
	// Temp marks <final>.tmp work in progress.
	Temp bool
	// Reason is why the name is not a volume's; "" when it is.
	Reason string
}

// ParseVolumeName reads <uuid>#<generation>.<format>[.tmp].
func ParseVolumeName(name string) VolumeName {
	if why := untrusted(name); why != "" {
		return VolumeName{Reason: why}
	}
	p := parseVolumeName(name)
	return VolumeName{ID: p.id, Generation: p.gen, Format: knownExt[p.ext], Temp: p.temp, Reason: p.reason}
}
