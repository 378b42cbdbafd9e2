package hq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"outpost/checks/clock"
	hqui "outpost/ui/hq"
)

// pgMigrations are the PostgreSQL schema's versions, applied in order
// at start (OpenPostgres) under an advisory lock, so instances starting
// together apply each once. Append; never edit one that has shipped.
// Records are kept as JSON in bytea (text a box sent may hold what jsonb
// refuses, such as \u0000); what queries select or order by has a column.
var pgMigrations = []string{
	// 1: the first schema.
	`CREATE TABLE hq_boxes (
		id     text PRIMARY KEY,
		record bytea NOT NULL
	);
	CREATE TABLE hq_summaries (
		box      text   NOT NULL,
		seq      bigint NOT NULL,
		received timestamptz NOT NULL,
		size     integer NOT NULL,
		entry    bytea  NOT NULL,
		body     bytea  NOT NULL,
		-- exactly once per (box, seq): a second insert fails whatever
		-- instance tries it
		CONSTRAINT hq_summaries_once PRIMARY KEY (box, seq)
	);
	CREATE TABLE hq_latest (
		box    text PRIMARY KEY,
		digest bytea NOT NULL
	);
	CREATE TABLE hq_commands (
		box     text   NOT NULL,
		id      bigint NOT NULL,
		payload bytea  NOT NULL,
		PRIMARY KEY (box, id)
	);
	CREATE TABLE hq_users (
		name   text PRIMARY KEY,
		record bytea NOT NULL
	);
	CREATE TABLE hq_sessions (
		key    bytea PRIMARY KEY,
		record bytea NOT NULL
	);
	CREATE TABLE hq_ack_posts (
		addr text NOT NULL,
		at   timestamptz NOT NULL
	);
	CREATE INDEX hq_ack_posts_addr ON hq_ack_posts (addr, at);`,
	// 2: numbered documents (hq's incidents, the notify engine's states,
	// outbox and delivery log).
	`CREATE TABLE hq_docs (
		kind text   NOT NULL,
		id   bigint NOT NULL,
		doc  bytea  NOT NULL,
		PRIMARY KEY (kind, id)
	);
	CREATE TABLE hq_doc_ids (
		kind text PRIMARY KEY,
		last bigint NOT NULL
	);`,
	// 3: failed logins to the fleet pages, counted for every instance.
	`CREATE TABLE hq_login_failures (
		id  bigserial PRIMARY KEY,
		key text NOT NULL,
		at  timestamptz NOT NULL
	);
	CREATE INDEX hq_login_failures_key ON hq_login_failures (key, at);`,
}

// pgLockID is the advisory lock the migrations run under ("outpost!"),
// pgLeadID the one the watcher's leader holds ("outpost?").
const (
	pgLockID = 0x6f7574706f737421
	pgLeadID = 0x6f7574706f73743f
)

// pgStore is the PostgreSQL backend: any number of instances on one
// database. A write transaction locks the box record it reads (SELECT
// ... FOR UPDATE), so two instances' summaries of one box are judged one
// after the other; the primary key on (box, seq) makes a second copy
// impossible whatever happens.
type pgStore struct {
	pool  *pgxpool.Pool
	clock clock.Clock
}

// pgTimeout bounds one transaction: a database that stops answering
// fails the request (the box retries) instead of holding it.
const pgTimeout = 30 * time.Second

// OpenPostgres connects to the database at url (postgres://…; a
// password may also come from PGPASSWORD or a PGPASSFILE) and brings its
// schema up to date.
func OpenPostgres(ctx context.Context, url string, clk clock.Clock) (Store, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can quote the URL; say what is wrong without it.
		return nil, fmt.Errorf("--db: not a PostgreSQL connection URL (postgres://user@host:port/database): %v", redactURL(err.Error(), url))
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = 16
	}
	cctx, cancel := context.WithTimeout(ctx, pgTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(cctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL %s: %v", describeDB(cfg), redactURL(err.Error(), url))
	}
	if err := pool.Ping(cctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connecting to PostgreSQL %s: %v", describeDB(cfg), redactURL(err.Error(), url))
	}
	s := &pgStore{pool: pool, clock: clk}
	if err := s.migrate(cctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL %s: schema: %w", describeDB(cfg), err)
	}
	return s, nil
}

// describeDB names a database for messages, without its password.
func describeDB(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// redactURL removes the URL and its password from a message.
func redactURL(msg, url string) string {
	if url != "" {
		msg = strings.ReplaceAll(msg, url, "<--db>")
	}
	if cfg, err := pgconn.ParseConfig(url); err == nil && cfg.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.Password, "<secret>")
	}
	return msg
}

// SchemaVersion is the newest schema version this build knows.
func SchemaVersion() int { return len(pgMigrations) }

func (s *pgStore) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(pgLockID)); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS hq_schema (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	var have int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM hq_schema`).Scan(&have); err != nil {
		return err
	}
	if have > len(pgMigrations) {
		return fmt.Errorf("the database is at schema version %d, this outpost knows up to %d: run the newer outpost", have, len(pgMigrations))
	}
	for v := have + 1; v <= len(pgMigrations); v++ {
		if _, err := tx.Exec(ctx, pgMigrations[v-1]); err != nil {
			return fmt.Errorf("applying version %d: %w", v, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO hq_schema (version) VALUES ($1)`, v); err != nil {
			return err
		}
	}
	return tx.Commit(ctx)
}

func (s *pgStore) Name() string { return "postgres" }

func (s *pgStore) Close() error { s.pool.Close(); return nil }

func (s *pgStore) View(fn func(Tx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead})
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	defer tx.Rollback(ctx)
	return fn(&pgTx{ctx: ctx, tx: tx})
}

// Update retries a transaction that failed on a deadlock or a
// serialisation conflict with another instance's: fn runs again.
func (s *pgStore) Update(fn func(Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := s.update(fn)
		var pe *pgconn.PgError
		if attempt < 5 && errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01") {
			continue
		}
		return err
	}
}

func (s *pgStore) update(fn func(Tx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
	defer cancel()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("PostgreSQL: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(&pgTx{ctx: ctx, tx: tx, write: true}); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Batch: PostgreSQL commits concurrent transactions together by itself
// (group commit), so each caller has its own.
func (s *pgStore) Batch(fn func(Tx) error) error { return s.Update(fn) }

// AllowAck counts in the database, so the limit holds across instances;
// the address's advisory lock makes count-then-insert one step.
func (s *pgStore) AllowAck(addr string) (bool, error) {
	now := s.clock.Now().UTC()
	ok := false
	err := s.Update(func(t Tx) error {
		tx := t.(*pgTx)
		if _, err := tx.tx.Exec(tx.ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "ack:"+addr); err != nil {
			return err
		}
		if _, err := tx.tx.Exec(tx.ctx, `DELETE FROM hq_ack_posts WHERE at <= $1`, now.Add(-ackWindow)); err != nil {
			return err
		}
		var n int
		if err := tx.tx.QueryRow(tx.ctx, `SELECT count(*) FROM hq_ack_posts WHERE addr = $1`, addr).Scan(&n); err != nil {
			return err
		}
		if ok = n < ackPerAddr; !ok {
			return nil
		}
		_, err := tx.tx.Exec(tx.ctx, `INSERT INTO hq_ack_posts (addr, at) VALUES ($1, $2)`, addr, now)
		return err
	})
	return ok, err
}

// Lead holds a session advisory lock on a connection of its own: the
// server lets go of it when that connection breaks (the instance died or
// lost the database), and the next instance to try takes over.
func (s *pgStore) Lead(ctx context.Context) (<-chan struct{}, func(), bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, false, err
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(pgLeadID)).Scan(&ok); err != nil || !ok {
		conn.Release()
		return nil, nil, false, err
	}
	lost := make(chan struct{})
	pctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := s.clock.NewTimer(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-pctx.Done():
				return
			case <-t.C():
			}
			cctx, cancel := context.WithTimeout(pctx, 10*time.Second)
			_, err := conn.Exec(cctx, `SELECT 1`)
			cancel()
			if err != nil && pctx.Err() == nil {
				close(lost)
				return
			}
			t.Reset(2 * time.Second)
		}
	}()
	release := sync.OnceFunc(func() {
		stop()
		<-done
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := conn.Exec(cctx, `SELECT pg_advisory_unlock($1)`, int64(pgLeadID)); err != nil {
			conn.Conn().Close(cctx) // the server lets go of the lock with the session
		}
		conn.Release()
	})
	return lost, release, true, nil
}

type pgTx struct {
	ctx   context.Context
	tx    pgx.Tx
	write bool
}

var _ Tx = (*pgTx)(nil)

// seqArg is a sequence number as PostgreSQL's bigint; parseHeaders
// refuses those above math.MaxInt64.
func seqArg(seq uint64) int64 { return int64(min(seq, 1<<63-1)) }

func (t *pgTx) Box(id string) (Box, bool, error) {
	var b Box
	q := `SELECT record FROM hq_boxes WHERE id = $1`
	if t.write {
		q += ` FOR UPDATE`
	}
	var v []byte
	switch err := t.tx.QueryRow(t.ctx, q, id).Scan(&v); {
	case errors.Is(err, pgx.ErrNoRows):
		return b, false, nil
	case err != nil:
		return b, false, err
	}
	if err := json.Unmarshal(v, &b); err != nil {
		return b, true, fmt.Errorf("box %s: %w", id, err)
	}
	return b, true, nil
}

func (t *pgTx) PutBox(b Box) error {
	v, err := json.Marshal(b)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(t.ctx, `INSERT INTO hq_boxes (id, record) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record`, b.ID, v)
	return err
}

func (t *pgTx) Boxes(fn func(Box) error) error {
	rows, err := t.tx.Query(t.ctx, `SELECT id, record FROM hq_boxes`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var all []Box
	for rows.Next() {
		var id string
		var v []byte
		if err := rows.Scan(&id, &v); err != nil {
			return err
		}
		var b Box
		if err := json.Unmarshal(v, &b); err != nil {
			rows.Close()
			return fmt.Errorf("box %s: %w", id, err)
		}
		all = append(all, b)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, b := range all {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

func (t *pgTx) Entry(box string, seq uint64) (*entry, error) {
	var v []byte
	switch err := t.tx.QueryRow(t.ctx, `SELECT entry FROM hq_summaries WHERE box = $1 AND seq = $2`, box, seqArg(seq)).Scan(&v); {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	}
	e, err := unmarshalEntry(v)
	if err != nil {
		return &entry{}, nil
	}
	return &e, nil
}

func (t *pgTx) PutSummary(box string, seq uint64, body []byte, e entry) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO hq_summaries (box, seq, received, size, entry, body) VALUES ($1, $2, $3, $4, $5, $6)`,
		box, seqArg(seq), e.Received, len(body), e.marshal(), body)
	return err
}

func (t *pgTx) Oldest(box string) (uint64, entry, int, bool, bool, error) {
	var seq int64
	var size int
	var v []byte
	switch err := t.tx.QueryRow(t.ctx, `SELECT seq, size, entry FROM hq_summaries WHERE box = $1 ORDER BY seq LIMIT 1`, box).Scan(&seq, &size, &v); {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, entry{}, 0, false, false, nil
	case err != nil:
		return 0, entry{}, 0, false, false, err
	}
	e, err := unmarshalEntry(v)
	return uint64(seq), e, size, err != nil, true, nil
}

func (t *pgTx) DeleteSummary(box string, seq uint64) error {
	_, err := t.tx.Exec(t.ctx, `DELETE FROM hq_summaries WHERE box = $1 AND seq = $2`, box, seqArg(seq))
	return err
}

func (t *pgTx) Entries(box string, below uint64, n int) ([]seqEntry, error) {
	if n <= 0 {
		return nil, nil
	}
	if below == 0 {
		below = 1<<63 - 1
	}
	rows, err := t.tx.Query(t.ctx, `SELECT seq, entry FROM hq_summaries WHERE box = $1 AND seq < $2 ORDER BY seq DESC LIMIT $3`, box, seqArg(below), int64(n))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []seqEntry
	for rows.Next() {
		var seq int64
		var v []byte
		if err := rows.Scan(&seq, &v); err != nil {
			return nil, err
		}
		if e, err := unmarshalEntry(v); err == nil {
			out = append(out, seqEntry{Seq: uint64(seq), entry: e})
		}
	}
	return out, rows.Err()
}

func (t *pgTx) Bodies(box string, above uint64, n int) ([]storedSummary, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := t.tx.Query(t.ctx, `SELECT seq, entry, body FROM hq_summaries WHERE box = $1 AND seq > $2 ORDER BY seq LIMIT $3`, box, seqArg(above), int64(n))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedSummary
	for rows.Next() {
		var seq int64
		var ev, body []byte
		if err := rows.Scan(&seq, &ev, &body); err != nil {
			return nil, err
		}
		ss := storedSummary{Seq: uint64(seq), Body: body}
		if e, err := unmarshalEntry(ev); err == nil {
			ss.Entry = e
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}

func (t *pgTx) Latest(box string) (*digest, error) {
	var v []byte
	switch err := t.tx.QueryRow(t.ctx, `SELECT digest FROM hq_latest WHERE box = $1`, box).Scan(&v); {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, err
	}
	var d digest
	if err := json.Unmarshal(v, &d); err != nil {
		return nil, fmt.Errorf("box %s digest: %w", box, err)
	}
	return &d, nil
}

func (t *pgTx) PutLatest(box string, d digest) error {
	v, err := json.Marshal(d)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(t.ctx, `INSERT INTO hq_latest (box, digest) VALUES ($1, $2) ON CONFLICT (box) DO UPDATE SET digest = EXCLUDED.digest`, box, v)
	return err
}

func (t *pgTx) Command(box string, id uint64) ([]byte, error) {
	var v []byte
	err := t.tx.QueryRow(t.ctx, `SELECT payload FROM hq_commands WHERE box = $1 AND id = $2`, box, seqArg(id)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

func (t *pgTx) PutCommand(box string, id uint64, payload []byte) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO hq_commands (box, id, payload) VALUES ($1, $2, $3) ON CONFLICT (box, id) DO UPDATE SET payload = EXCLUDED.payload`, box, seqArg(id), payload)
	return err
}

func (t *pgTx) DeleteCommand(box string, id uint64) error {
	_, err := t.tx.Exec(t.ctx, `DELETE FROM hq_commands WHERE box = $1 AND id = $2`, box, seqArg(id))
	return err
}

func (t *pgTx) User(name string) (hqui.User, bool, error) {
	var u hqui.User
	var v []byte
	switch err := t.tx.QueryRow(t.ctx, `SELECT record FROM hq_users WHERE name = $1`, name).Scan(&v); {
	case errors.Is(err, pgx.ErrNoRows):
		return u, false, nil
	case err != nil:
		return u, false, err
	}
	if err := json.Unmarshal(v, &u); err != nil {
		return u, true, fmt.Errorf("user %s: %w", name, err)
	}
	return u, true, nil
}

func (t *pgTx) PutUser(u hqui.User) error {
	v, err := json.Marshal(u)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(t.ctx, `INSERT INTO hq_users (name, record) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record`, u.Name, v)
	return err
}

func (t *pgTx) DeleteUser(name string) error {
	_, err := t.tx.Exec(t.ctx, `DELETE FROM hq_users WHERE name = $1`, name)
	return err
}

func (t *pgTx) Users(fn func(hqui.User) error) error {
	rows, err := t.tx.Query(t.ctx, `SELECT name, record FROM hq_users ORDER BY name`)
	if err != nil {
		return err
	}
	defer rows.Close()
	var all []hqui.User
	for rows.Next() {
		var name string
		var v []byte
		if err := rows.Scan(&name, &v); err != nil {
			return err
		}
		var u hqui.User
		if err := json.Unmarshal(v, &u); err != nil {
			rows.Close()
			return fmt.Errorf("user %s: %w", name, err)
		}
		all = append(all, u)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, u := range all {
		if err := fn(u); err != nil {
			return err
		}
	}
	return nil
}

func (t *pgTx) CountUsers() (int, error) {
	var n int
	err := t.tx.QueryRow(t.ctx, `SELECT count(*) FROM hq_users`).Scan(&n)
	return n, err
}

func (t *pgTx) Session(key []byte) (hqui.Session, bool, error) {
	var ss hqui.Session
	var v []byte
	switch err := t.tx.QueryRow(t.ctx, `SELECT record FROM hq_sessions WHERE key = $1`, key).Scan(&v); {
	case errors.Is(err, pgx.ErrNoRows):
		return ss, false, nil
	case err != nil:
		return ss, false, err
	}
	return ss, true, json.Unmarshal(v, &ss)
}

func (t *pgTx) PutSession(key []byte, ss hqui.Session) error {
	ss.Token = ""
	v, err := json.Marshal(ss)
	if err != nil {
		return err
	}
	_, err = t.tx.Exec(t.ctx, `INSERT INTO hq_sessions (key, record) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET record = EXCLUDED.record`, key, v)
	return err
}

func (t *pgTx) DeleteSession(key []byte) error {
	_, err := t.tx.Exec(t.ctx, `DELETE FROM hq_sessions WHERE key = $1`, key)
	return err
}

// Sessions reads every row before calling fn, which may write.
func (t *pgTx) Sessions(fn func([]byte, hqui.Session, bool) error) error {
	rows, err := t.tx.Query(t.ctx, `SELECT key, record FROM hq_sessions`)
	if err != nil {
		return err
	}
	defer rows.Close()
	type row struct {
		key []byte
		ss  hqui.Session
		bad bool
	}
	var all []row
	for rows.Next() {
		var r row
		var v []byte
		if err := rows.Scan(&r.key, &v); err != nil {
			return err
		}
		r.bad = json.Unmarshal(v, &r.ss) != nil
		all = append(all, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range all {
		if err := fn(r.key, r.ss, r.bad); err != nil {
			return err
		}
	}
	return nil
}

func (t *pgTx) NextDoc(kind string) (uint64, error) {
	var id int64
	err := t.tx.QueryRow(t.ctx, `INSERT INTO hq_doc_ids (kind, last) VALUES ($1, 1) ON CONFLICT (kind) DO UPDATE SET last = hq_doc_ids.last + 1 RETURNING last`, kind).Scan(&id)
	return uint64(id), err
}

func (t *pgTx) Doc(kind string, id uint64) ([]byte, error) {
	var v []byte
	q := `SELECT doc FROM hq_docs WHERE kind = $1 AND id = $2`
	if t.write {
		q += ` FOR UPDATE` // read-modify-write: an alert acknowledged on one instance, resolved on another
	}
	err := t.tx.QueryRow(t.ctx, q, kind, seqArg(id)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

func (t *pgTx) PutDoc(kind string, id uint64, doc []byte) error {
	if _, err := t.tx.Exec(t.ctx, `INSERT INTO hq_docs (kind, id, doc) VALUES ($1, $2, $3) ON CONFLICT (kind, id) DO UPDATE SET doc = EXCLUDED.doc`, kind, seqArg(id), doc); err != nil {
		return err
	}
	_, err := t.tx.Exec(t.ctx, `INSERT INTO hq_doc_ids (kind, last) VALUES ($1, $2) ON CONFLICT (kind) DO UPDATE SET last = greatest(hq_doc_ids.last, EXCLUDED.last)`, kind, seqArg(id))
	return err
}

func (t *pgTx) DeleteDoc(kind string, id uint64) error {
	_, err := t.tx.Exec(t.ctx, `DELETE FROM hq_docs WHERE kind = $1 AND id = $2`, kind, seqArg(id))
	return err
}

// Docs reads every row before calling fn, which may write.
func (t *pgTx) Docs(kind string, fn func(uint64, []byte) error) error {
	rows, err := t.tx.Query(t.ctx, `SELECT id, doc FROM hq_docs WHERE kind = $1 ORDER BY id`, kind)
	if err != nil {
		return err
	}
	defer rows.Close()
	var ids []uint64
	var docs [][]byte
	for rows.Next() {
		var id int64
		var v []byte
		if err := rows.Scan(&id, &v); err != nil {
			return err
		}
		ids, docs = append(ids, uint64(id)), append(docs, v)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for i := range ids {
		if err := fn(ids[i], docs[i]); err != nil {
			return err
		}
	}
	return nil
}

func (t *pgTx) DeleteDocsBelow(kind string, id uint64) error {
	_, err := t.tx.Exec(t.ctx, `DELETE FROM hq_docs WHERE kind = $1 AND id < $2`, kind, seqArg(id))
	return err
}

var _ hqui.SharedLimits = (*pgStore)(nil)

// BeginLogin counts failed logins in the database, so that the limits
// hold for all instances together: each key's advisory lock (taken in
// key order) makes count-then-insert one step.
func (s *pgStore) BeginLogin(rules []hqui.Rule) (func(bool), time.Duration, bool, error) {
	rules = slices.Clone(rules)
	slices.SortFunc(rules, func(a, b hqui.Rule) int { return strings.Compare(a.Key, b.Key) })
	now := s.clock.Now().UTC()
	var ids []int64
	var retry time.Duration
	allowed := false
	err := s.Update(func(t Tx) error {
		tx := t.(*pgTx)
		ids, retry, allowed = ids[:0], 0, false
		for _, r := range rules {
			if _, err := tx.tx.Exec(tx.ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "login:"+r.Key); err != nil {
				return err
			}
		}
		for _, r := range rules {
			if _, err := tx.tx.Exec(tx.ctx, `DELETE FROM hq_login_failures WHERE key = $1 AND at <= $2`, r.Key, now.Add(-r.Window)); err != nil {
				return err
			}
			rows, err := tx.tx.Query(tx.ctx, `SELECT at FROM hq_login_failures WHERE key = $1 ORDER BY at`, r.Key)
			if err != nil {
				return err
			}
			ts, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
			if err != nil {
				return err
			}
			if len(ts) >= r.Max {
				retry = ts[len(ts)-r.Max].Add(r.Window).Sub(now)
				return nil
			}
		}
		for _, r := range rules {
			var id int64
			if err := tx.tx.QueryRow(tx.ctx, `INSERT INTO hq_login_failures (key, at) VALUES ($1, $2) RETURNING id`, r.Key, now).Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		allowed = true
		return nil
	})
	if err != nil || !allowed {
		return nil, retry, false, err
	}
	return func(ok bool) {
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), pgTimeout)
		defer cancel()
		if _, err := s.pool.Exec(ctx, `DELETE FROM hq_login_failures WHERE id = ANY($1)`, ids); err != nil {
			slog.Default().Warn("hq: a successful login still counts as a failure (database)", "err", err)
		}
	}, 0, true, nil
}
