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
package qemu
