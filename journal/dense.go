package journal

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/edgewright/edgewright/materials"
)

// PutDense durably records what a sparsify left at f.Path, replacing an
// earlier record of the path.
func (j *Journal) PutDense(f materials.DenseFile) error {
	v, err := json.Marshal(f)
	if err != nil {
		return err
	}
	err = j.update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDense).Put([]byte(f.Path), v)
	})
	if err != nil {
		return fmt.Errorf("journal dense file %s: %w", f.Path, err)
	}
	return nil
}

// Dense lists the records PutDense made, sorted by path (bbolt's key
// order). A record that does not decode is skipped: it only keeps an
// advisory fix from being listed again.
func (j *Journal) Dense() ([]materials.DenseFile, error) {
	var out []materials.DenseFile
	err := j.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDense)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var f materials.DenseFile
			if json.Unmarshal(v, &f) == nil {
				out = append(out, f)
			}
			return nil
		})
	})
	return out, err
}

// LiveDense is the dense rule of a checkpoint: once bp is the last
// applied Blueprint (its volumes, and the dropped ones still on disk),
// a record of a volume generation bp does not have is of a file deleted
// or about to be, and goes in the checkpoint's own write; without this
// rule every raw volume ever sparsified would keep its record. A record
// whose path names no volume generation is kept. Both journals apply it.
func LiveDense(bp *materials.Blueprint, dense []materials.DenseFile) (keep, drop []materials.DenseFile) {
	if bp == nil {
		return dense, nil
	}
	have := make(map[materials.VolumeKey]bool, len(bp.Volumes))
	for _, v := range bp.Volumes {
		have[v.Key()] = true
	}
	for _, d := range dense {
		base := path.Base(d.Path)
		k, err := materials.ParseVolumeKey(strings.TrimSuffix(base, path.Ext(base)))
		if err != nil || have[k] {
			keep = append(keep, d)
		} else {
			drop = append(drop, d)
		}
	}
	return keep, drop
}
