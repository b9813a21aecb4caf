// Package qemu builds raw and qcow2 volumes with qemu-img, a
// device.VolumeBuilder: every build works at <final>.tmp and renames into
// place; content is opened with its backing chain disabled and refused
// when its header names another file or is not the format it claims; a
// raw copy stays sparse; a volume is grown to its size, never shrunk.
//
// It is a device.OverlayBuilder too (the space strategy): CreateOverlay
// checks the content blob like any content, then `qemu-img create -f
// qcow2 -u -F <fmt> -b <name> <final>.tmp <size>` (the blob is not opened
// by qemu-img; the backing format is recorded so qemu never probes it),
// checks the header it wrote names that backing, and renames into place.
// A resize opens such an overlay with backing null, and accepts only a
// backing name spelled by layout.BackingName.
//
// It is a device.VolumeFixer (the storage check's fixes, package check):
// RepairLeaks (`qemu-img check -r leaks` of a copy), Sparsify (a sparse
// copy of a raw volume), Flatten (`qemu-img convert` of the chain) and
// Merge (safe `qemu-img rebase` of a copy onto the chain's blob) each
// write <path>.tmp and rename it over the volume. A chain is read only as
// the survey followed it: each link's header is checked first and qemu
// opens the links named in a json: filename, never by a header's name.
package qemu
