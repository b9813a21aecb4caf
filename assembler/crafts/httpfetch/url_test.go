package httpfetch

import (
	"testing"

	"github.com/edgewright/edgewright/materials"
)

func TestDatastoreURL(t *testing.T) {
	for _, tc := range []struct {
		ds   materials.Datastore
		rel  string
		want string
		err  bool
	}{
		{materials.Datastore{Type: materials.DatastoreHTTP, FQDN: "host:8080", Path: "images"}, "a/b.qcow2", "http://host:8080/images/a/b.qcow2", false},
		{materials.Datastore{Type: materials.DatastoreHTTPS, FQDN: "host", Path: "/images/"}, "/b.raw", "https://host/images/b.raw", false},
		{materials.Datastore{Type: materials.DatastoreHTTPS, FQDN: "http://10.0.0.1:8888", Path: ""}, "x.img", "http://10.0.0.1:8888/x.img", false},
		{materials.Datastore{Type: materials.DatastoreHTTP, FQDN: "host/prefix", Path: "p"}, "x.img", "http://host/prefix/p/x.img", false},
		{materials.Datastore{Type: materials.DatastoreHTTP, FQDN: "", Path: "p"}, "x.img", "", true},
		{materials.Datastore{Type: materials.DatastoreHTTP, FQDN: "ftp://h", Path: "p"}, "x.img", "", true},
		{materials.Datastore{Type: materials.DatastoreHTTP, FQDN: "h"}, "", "", true},
	} {
		u, err := DatastoreURL(tc.ds, tc.rel)
		if (err != nil) != tc.err {
			t.Errorf("%+v %q: err %v, want error %v", tc.ds, tc.rel, err, tc.err)
			continue
		}
		if err == nil && u.String() != tc.want {
			t.Errorf("%+v %q: %s, want %s", tc.ds, tc.rel, u, tc.want)
		}
	}
}
