package architect

import (
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/edgewright/edgewright/materials"
	"github.com/edgewright/edgewright/materials/eve"
)

// Messages shared by several checks; tests match them exactly.
const (
	msgNotUUID        = "not a UUID"
	msgNilUUID        = "the nil UUID is not an id"
	msgNegativeSize   = "negative size"
	msgSizeOutOfRange = "size is negative or out of range (more than 2^63-1)"
	msgNegativeGen    = "negative generation"
	msgBadSHA256      = "sha256 must be 64 hex characters"
	msgWithheldDS     = "datastore is withheld"
	msgWithheldTree   = "content tree is withheld"
)

// canonicalUUID accepts only the 36-character dashed form (ids end up in
// file names, so `{…}` and `urn:uuid:` spellings are refused) and returns it
// in lower case. The problem is "" when the id is fine.
func canonicalUUID(s string) (id, problem string) {
	if len(s) != 36 {
		return "", msgNotUUID
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", msgNotUUID
	}
	if u == uuid.Nil {
		return "", msgNilUUID
	}
	if strings.ToLower(s) == s {
		// Already canonical (the dashed form, lower case): kept, not
		// copied, so a Blueprint shares its config's ids.
		return s, ""
	}
	return u.String(), ""
}

var sha256Hex = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

// checkSHA256 returns the lower-case digest, or a problem.
func checkSHA256(s string) (string, string) {
	if !sha256Hex.MatchString(s) {
		return "", msgBadSHA256
	}
	return strings.ToLower(s), ""
}

var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// urlProblem says why a content tree URL could reach outside its datastore,
// or "" when it cannot. The URL is joined to the datastore's fqdn and dpath
// by the assembler, so it must stay relative and free of `..`, in either
// slash direction and percent-encoded.
func urlProblem(u string) string {
	if u == "" {
		return "empty URL"
	}
	for _, r := range u {
		if r == 0 {
			return "URL contains NUL"
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "URL contains a control character"
		}
	}
	if urlScheme.MatchString(u) {
		return "URL names its own scheme and host; it must be relative to its datastore"
	}
	if u[0] == '/' || u[0] == '\\' {
		return "URL is an absolute path; it must be relative to its datastore"
	}
	for _, seg := range strings.FieldsFunc(u, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == ".." {
			return "URL has a .. segment that could escape its datastore"
		}
		if dec, err := url.PathUnescape(seg); err == nil && dec != seg {
			if dec == ".." || strings.ContainsAny(dec, "/\\\x00") {
				return "URL has a percent-encoded segment that could escape its datastore"
			}
		}
	}
	return ""
}

var (
	refComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	refHost      = regexp.MustCompile(`^(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9.-]+:[0-9]+)$`)
	refTag       = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	refDigest    = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// registryRef checks a container-registry URL: `repo:tag`,
// `repo@sha256:<64 hex>` or `repo:tag@sha256:<64 hex>`. It returns the
// digest's hex when the reference pins one.
func registryRef(u string) (digestHex, problem string) {
	const want = "; want repo:tag or repo@sha256:<64 hex>"
	name, dig, pinned := strings.Cut(u, "@")
	if pinned {
		if !refDigest.MatchString(dig) {
			return "", "container reference digest must be sha256:<64 lower-case hex>" + want
		}
		digestHex = strings.TrimPrefix(dig, "sha256:")
	}
	repo := name
	slash := strings.LastIndexByte(name, '/')
	if colon := strings.LastIndexByte(name, ':'); colon > slash {
		repo = name[:colon]
		if !refTag.MatchString(name[colon+1:]) {
			return "", "container reference has a malformed tag" + want
		}
	} else if !pinned {
		return "", "container reference has neither tag nor digest" + want
	}
	if repo == "" || len(repo) > 255 {
		return "", "container reference has a malformed repository name" + want
	}
	parts := strings.Split(repo, "/")
	for i, p := range parts {
		if i == 0 && len(parts) > 1 && refHost.MatchString(p) {
			continue
		}
		if !refComponent.MatchString(p) {
			return "", "container reference has a malformed repository name" + want
		}
	}
	return digestHex, ""
}

// textProblem rejects control characters in free-text fields that end up
// in URLs (fqdn, dpath).
func textProblem(s string) string {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "contains a control character"
		}
	}
	return ""
}

var formats = map[eve.Format]materials.Format{
	eve.Format_RAW:       materials.FormatRaw,
	eve.Format_QCOW:      materials.FormatQcow,
	eve.Format_QCOW2:     materials.FormatQcow2,
	eve.Format_VHD:       materials.FormatVHD,
	eve.Format_VMDK:      materials.FormatVMDK,
	eve.Format_OVA:       materials.FormatOVA,
	eve.Format_VHDX:      materials.FormatVHDX,
	eve.Format_CONTAINER: materials.FormatContainer,
	eve.Format_ISO:       materials.FormatISO,
	eve.Format_PVC:       materials.FormatPVC,
}

// format maps EVE's Format, or says what is wrong with it.
func format(f eve.Format) (materials.Format, string) {
	if f == eve.Format_FmtUnknown {
		return "", "format is not set (FmtUnknown)"
	}
	m, ok := formats[f]
	if !ok {
		return "", "unknown format " + strconv.Itoa(int(f))
	}
	return m, ""
}

// volumeFormat is the on-disk format of a volume made from a content tree of
// format f: raw, qcow2 and container volumes keep the tree's format; every
// other VM format is converted to qcow2.
func volumeFormat(f materials.Format) materials.Format {
	switch f {
	case materials.FormatRaw, materials.FormatQcow2, materials.FormatContainer:
		return f
	}
	return materials.FormatQcow2
}

var datastoreTypes = map[eve.DsType]materials.DatastoreType{
	eve.DsType_DsHttp:              materials.DatastoreHTTP,
	eve.DsType_DsHttps:             materials.DatastoreHTTPS,
	eve.DsType_DsS3:                materials.DatastoreS3,
	eve.DsType_DsSFTP:              materials.DatastoreSFTP,
	eve.DsType_DsContainerRegistry: materials.DatastoreContainerRegistry,
	eve.DsType_DsAzureBlob:         materials.DatastoreAzureBlob,
	eve.DsType_DsGoogleStorage:     materials.DatastoreGoogleStorage,
}

// supportedDatastores are the types the assembler can fetch from today.
var supportedDatastores = map[materials.DatastoreType]bool{
	materials.DatastoreHTTP:              true,
	materials.DatastoreHTTPS:             true,
	materials.DatastoreContainerRegistry: true,
	materials.DatastoreSFTP:              true,
	materials.DatastoreS3:                true,
	materials.DatastoreAzureBlob:         true,
	materials.DatastoreGoogleStorage:     true,
}

func datastoreType(t eve.DsType) (materials.DatastoreType, string) {
	if t == eve.DsType_DsUnknown {
		return "", "datastore type is not set (DsUnknown)"
	}
	m, ok := datastoreTypes[t]
	if !ok {
		return "", "unknown datastore type " + strconv.Itoa(int(t))
	}
	if !supportedDatastores[m] {
		return m, "datastore type " + t.String() + " is not supported yet"
	}
	return m, ""
}

// datastoreShape says what a datastore of type t lacks that its fetcher
// needs, so that the config is refused when it arrives rather than each
// download failing later: an object store names its bucket (Azure: its
// container) as dpath's first element, and SFTP logs in as the user in
// apiKey. It returns the field, its value and the problem.
func datastoreShape(t materials.DatastoreType, c *eve.DatastoreConfig) (field, value, problem string) {
	switch t {
	case materials.DatastoreS3, materials.DatastoreAzureBlob, materials.DatastoreGoogleStorage:
		if bucket, _ := (materials.Datastore{Path: c.GetDpath()}).Bucket(); bucket == "" {
			what := "bucket"
			if t == materials.DatastoreAzureBlob {
				what = "container"
			}
			return "dpath", c.GetDpath(), string(t) + " datastore needs its " + what + " as the first element of dpath"
		}
	case materials.DatastoreSFTP:
		if c.GetApiKey() == "" {
			// The value is empty: nothing secret is printed.
			return "apiKey", "", "sftp datastore needs the user to log in as in apiKey"
		}
	}
	return "", "", ""
}

// uint64Size converts a size the wire carries unsigned; values above
// MaxInt64 are a negative number written as uint64.
func uint64Size(n uint64) (int64, string) {
	if n > math.MaxInt64 {
		return 0, msgSizeOutOfRange
	}
	return int64(n), ""
}
