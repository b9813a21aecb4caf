// Package qemu builds raw and qcow2 volumes with qemu-img, a
// device.VolumeBuilder: every build works at <final>.tmp and renames into
// place; content is opened with its backing chain disabled and refused
// when its header names another file or is not the format it claims; a
// raw copy stays sparse; a volume is grown to its size, never shrunk.
package qemu
