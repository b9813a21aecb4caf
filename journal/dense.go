package journal

import (
	"encoding/json"
	"fmt"

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
