package schema

import (
	"fmt"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	read := func(name string) (string, error) { return "-- " + name, nil }
	tests := []struct {
		name    string
		files   []string
		want    []string // "version name"
		wantErr string
	}{
		{name: "ordered", files: []string{"0002_more.sql", "0001_init.sql"}, want: []string{"1 init", "2 more"}},
		{name: "empty", files: nil, want: []string{}},
		{name: "gap", files: []string{"0001_init.sql", "0003_late.sql"}, wantErr: "version 0002 is missing"},
		{name: "duplicate version", files: []string{"0001_init.sql", "0001_other.sql"}, wantErr: "version 1 is also"},
		{name: "zero", files: []string{"0000_init.sql"}, wantErr: "start at 0001"},
		{name: "bad name", files: []string{"1_init.sql"}, wantErr: "not NNNN_name.sql"},
		{name: "upper case", files: []string{"0001_Init.sql"}, wantErr: "not NNNN_name.sql"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parse(tt.files, read)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			names := []string{}
			for _, m := range got {
				names = append(names, fmt.Sprintf("%d %s", m.Version, m.Name))
				if m.SQL != fmt.Sprintf("-- %04d_%s.sql", m.Version, m.Name) {
					t.Errorf("migration %d has SQL %q", m.Version, m.SQL)
				}
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, want %v", names, tt.want)
			}
		})
	}
}

func TestPending(t *testing.T) {
	all := []Migration{{Version: 1, Name: "init"}, {Version: 2, Name: "more"}}
	tests := []struct {
		name    string
		applied map[int]string
		want    []int
		wantErr bool
	}{
		{name: "fresh", applied: map[int]string{}, want: []int{1, 2}},
		{name: "partly", applied: map[int]string{1: "init"}, want: []int{2}},
		{name: "all", applied: map[int]string{1: "init", 2: "more"}, want: nil},
		{name: "newer database", applied: map[int]string{1: "init", 2: "more", 3: "future"}, want: nil},
		{name: "renamed", applied: map[int]string{1: "first"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pending(all, tt.applied)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var versions []int
			for _, m := range got {
				versions = append(versions, m.Version)
			}
			if fmt.Sprint(versions) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", versions, tt.want)
			}
		})
	}
}

func TestEmbedded(t *testing.T) {
	all, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) == 0 || all[0].Name != "init" || !strings.Contains(all[0].SQL, "CREATE TABLE projection_checkpoints") {
		t.Fatalf("embedded migrations: %+v", all)
	}
}
