package pgrebuild

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// notFromLog are the columns that are not a function of the log (they
// record when something was written), left out of every comparison.
var notFromLog = map[string][]string{
	"projection_checkpoints": {"updated_at"},
	"schema_migrations":      {"applied_at"},
}

// Table is a table's content in one schema, by ordered checksum.
type Table struct {
	Name string
	Rows int64
	// Sum is the hex MD5 of the MD5s of its rows' text (the columns of the
	// log, in column order), concatenated in primary key order.
	Sum string
}

// TableResult is a table compared between two schemas.
type TableResult struct {
	Name string
	// A and B are the table in either schema; Missing* when it has none.
	A, B               Table
	MissingA, MissingB bool
	// Columns says how the columns differ, if they do (then rows are not
	// compared).
	Columns string
	// Diff is the first differing row in primary key order, if any.
	Diff *RowDiff
}

// Equal reports whether the table is the same in both schemas.
func (r TableResult) Equal() bool {
	return !r.MissingA && !r.MissingB && r.Columns == "" && r.A.Rows == r.B.Rows && r.A.Sum == r.B.Sum
}

// RowDiff is the first row, in primary key order, that differs between two
// schemas' copies of a table.
type RowDiff struct {
	Key string // "id=37", "message_id=5, user_id=ann, emoji=👍"
	// A and B are the row in either schema, as Postgres writes a row
	// ("(37,lobby,5,…)"); empty when that schema has no row with the key.
	A, B string
}

// tableInfo is a table's compared columns and key.
type tableInfo struct {
	cols []string // columns of the log, in column order
	key  []string // primary key columns; all of cols if there is none
	pk   bool     // whether key is a primary key
}

// tables lists the tables of a schema.
func tables(ctx context.Context, q pgx.Tx, schema string) (map[string]tableInfo, error) {
	rows, err := q.Query(ctx, `SELECT c.relname,
	(SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
		WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
	COALESCE((SELECT array_agg(a.attname::text ORDER BY k.ord)
		FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attnum = k.attnum
		WHERE i.indrelid = c.oid AND i.indisprimary AND a.attrelid = c.oid), '{}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')`, schema)
	if err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", schema, err)
	}
	out := map[string]tableInfo{}
	for rows.Next() {
		var name string
		var cols, key []string
		if err := rows.Scan(&name, &cols, &key); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list tables of %s: %w", schema, err)
		}
		cols = slices.DeleteFunc(cols, func(c string) bool { return slices.Contains(notFromLog[name], c) })
		info := tableInfo{cols: cols, key: key, pk: len(key) > 0}
		if !info.pk {
			info.key = cols
		}
		out[name] = info
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tables of %s: %w", schema, err)
	}
	return out, nil
}

// Compare compares every table of schemas a and b inside tx (one snapshot
// of both), in table name order.
func Compare(ctx context.Context, tx pgx.Tx, a, b string) ([]TableResult, error) {
	ta, err := tables(ctx, tx, a)
	if err != nil {
		return nil, err
	}
	tb, err := tables(ctx, tx, b)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ta)+len(tb))
	for n := range ta {
		names = append(names, n)
	}
	for n := range tb {
		if _, ok := ta[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	out := make([]TableResult, 0, len(names))
	for _, n := range names {
		ia, okA := ta[n]
		ib, okB := tb[n]
		r := TableResult{Name: n, MissingA: !okA, MissingB: !okB}
		if okA {
			if r.A, err = checksum(ctx, tx, a, n, ia); err != nil {
				return nil, err
			}
		}
		if okB {
			if r.B, err = checksum(ctx, tx, b, n, ib); err != nil {
				return nil, err
			}
		}
		switch {
		case !okA || !okB:
		case !slices.Equal(ia.cols, ib.cols) || !slices.Equal(ia.key, ib.key):
			r.Columns = fmt.Sprintf("columns (%s) key (%s) in %s, columns (%s) key (%s) in %s",
				strings.Join(ia.cols, ", "), strings.Join(ia.key, ", "), a,
				strings.Join(ib.cols, ", "), strings.Join(ib.key, ", "), b)
		case r.A.Rows != r.B.Rows || r.A.Sum != r.B.Sum:
			if r.Diff, err = firstDiff(ctx, tx, a, b, n, ia); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, nil
}

// Checksums is every table of schema by ordered checksum, in name order.
func Checksums(ctx context.Context, tx pgx.Tx, schema string) ([]Table, error) {
	ts, err := tables(ctx, tx, schema)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]Table, 0, len(names))
	for _, n := range names {
		t, err := checksum(ctx, tx, schema, n, ts[n])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// list is "p.c1, p.c2" for columns cs of the table aliased p.
func list(p string, cs []string) string {
	q := make([]string, len(cs))
	for i, c := range cs {
		q[i] = p + "." + pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(q, ", ")
}

func checksum(ctx context.Context, tx pgx.Tx, schema, table string, t tableInfo) (Table, error) {
	out := Table{Name: table}
	// md5 per row keeps the aggregate small for a table of millions of rows.
	sql := `SELECT count(*), md5(COALESCE(string_agg(md5(ROW(` + list("t", t.cols) + `)::text), '' ORDER BY ` + list("t", t.key) + `), ''))
FROM ` + pgx.Identifier{schema, table}.Sanitize() + ` t`
	if err := tx.QueryRow(ctx, sql).Scan(&out.Rows, &out.Sum); err != nil {
		return out, fmt.Errorf("checksum %s.%s: %w", schema, table, err)
	}
	return out, nil
}

// firstDiff finds the first row, in key order, that one schema lacks or
// that reads differently in the two.
func firstDiff(ctx context.Context, tx pgx.Tx, a, b, table string, t tableInfo) (*RowDiff, error) {
	rowL, rowR := `ROW(`+list("l", t.cols)+`)::text`, `ROW(`+list("r", t.cols)+`)::text`
	names := t.key
	var on, keys []string
	if t.pk {
		for _, k := range t.key {
			c := pgx.Identifier{k}.Sanitize()
			on = append(on, "l."+c+" = r."+c) // key columns are never NULL
			keys = append(keys, "COALESCE(l."+c+", r."+c+")")
		}
	} else {
		// Without a primary key a row is its own key.
		names = []string{"row"}
		on = []string{rowL + " = " + rowR}
		keys = []string{"COALESCE(" + rowL + ", " + rowR + ")"}
	}
	sql := `SELECT ARRAY[` + strings.Join(keys, "::text, ") + `::text], l.ctid IS NOT NULL, ` + rowL + `, r.ctid IS NOT NULL, ` + rowR + `
FROM ` + pgx.Identifier{a, table}.Sanitize() + ` l FULL JOIN ` + pgx.Identifier{b, table}.Sanitize() + ` r ON ` + strings.Join(on, " AND ") + `
WHERE l.ctid IS NULL OR r.ctid IS NULL OR ` + rowL + ` IS DISTINCT FROM ` + rowR + `
ORDER BY ` + strings.Join(keys, ", ") + ` LIMIT 1`
	var (
		key        []*string
		inA, inB   bool
		rowA, rowB string
	)
	err := tx.QueryRow(ctx, sql).Scan(&key, &inA, &rowA, &inB, &rowB)
	if errors.Is(err, pgx.ErrNoRows) {
		// Same rows, yet the checksums differ: only the order of equal keys
		// can do that, which a primary key rules out.
		return nil, fmt.Errorf("compare %s: checksums differ but no row does", table)
	}
	if err != nil {
		return nil, fmt.Errorf("compare %s: %w", table, err)
	}
	d := &RowDiff{}
	parts := make([]string, len(key))
	for i, k := range key {
		v := "NULL"
		if k != nil {
			v = *k
		}
		parts[i] = names[i] + "=" + v
	}
	d.Key = strings.Join(parts, ", ")
	if inA {
		d.A = rowA
	}
	if inB {
		d.B = rowB
	}
	return d, nil
}
