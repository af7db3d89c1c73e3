package schema

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_later.sql": {Data: []byte("B")},
		"m/0002_first.sql": {Data: []byte("A")},
		"m/README.md":      {Data: []byte("not a migration")},
	}
	all, err := Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].N != 2 || all[0].Body != "A" || all[1].N != 10 || all[1].Name != "0010_later.sql" {
		t.Fatalf("Load: got %+v", all)
	}
	fsys["m/next_no_number.sql"] = &fstest.MapFile{Data: []byte("C")}
	if _, err := Load(fsys, "m"); err == nil {
		t.Error("a migration without a number was accepted")
	}
}
