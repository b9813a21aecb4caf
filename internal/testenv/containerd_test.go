package testenv

import (
	"net"
	"testing"
)

func TestStartContainerd(t *testing.T) {
	c := StartContainerd(t)
	conn, err := net.Dial("unix", c.Address)
	if err != nil {
		t.Fatalf("dial %s: %v", c.Address, err)
	}
	conn.Close()
}
