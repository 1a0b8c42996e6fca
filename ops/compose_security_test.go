package ops_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/redis/go-redis/v9"

	"github.com/chillin-chat/chillin/events"
	"github.com/chillin-chat/chillin/events/redistest"
	natsconf "github.com/chillin-chat/chillin/ops/nats"
)

// serviceUser is the NATS and Redis user each Chillin service connects as.
var serviceUser = map[string]string{"gateway-1": "gateway", "gateway-2": "gateway", "validator": "validator", "projector": "projector"}

// Without its secrets compose.yml does not start: no service falls back
// to a password written in compose.yml.
func TestComposeRequiresSecrets(t *testing.T) {
	for _, name := range secrets {
		env := slices.DeleteFunc(secretEnv(), func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
		if _, err := tryLoadCompose(t, env); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("compose.yml loads without %s (%v)", name, err)
		}
	}
	raw, err := os.ReadFile(filepath.Join(root(t), "compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range secrets {
		if regexp.MustCompile(regexp.QuoteMeta(name) + `:-`).Match(raw) {
			t.Errorf("compose.yml has a default for %s", name)
		}
	}
}

// No Chillin service uses MinIO's root user; the app's user reaches its
// bucket's objects and nothing else.
func TestComposeMinIOUserIsNotRoot(t *testing.T) {
	p := loadCompose(t)
	rootUser := p.Services["minio"].Environment["MINIO_ROOT_USER"]
	rootPassword := p.Services["minio"].Environment["MINIO_ROOT_PASSWORD"]
	if rootUser == nil || rootPassword == nil {
		t.Fatal("minio has no root credentials")
	}
	initEnv := p.Services["minio-init"].Environment
	for name := range chillinServices {
		env := p.Services[name].Environment
		key, secret := env["CHILLIN_S3_ACCESS_KEY"], env["CHILLIN_S3_SECRET_KEY"]
		if key == nil {
			continue // no media storage (the projector)
		}
		if *key == *rootUser || secret == nil || *secret == *rootPassword {
			t.Errorf("%s uses MinIO's root credentials", name)
		}
		if initEnv["CHILLIN_S3_ACCESS_KEY"] == nil || *initEnv["CHILLIN_S3_ACCESS_KEY"] != *key ||
			initEnv["CHILLIN_S3_SECRET_KEY"] == nil || *initEnv["CHILLIN_S3_SECRET_KEY"] != *secret {
			t.Errorf("%s uses a MinIO user that minio-init does not create", name)
		}
	}

	b, err := os.ReadFile(filepath.Join(root(t), "ops", "docker", "minio-policy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var policy struct {
		Statement []struct {
			Effect   string
			Action   []string
			Resource []string
		}
	}
	if err := json.Unmarshal(b, &policy); err != nil {
		t.Fatalf("minio-policy.json: %v", err)
	}
	allowed := []string{"s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"}
	for _, st := range policy.Statement {
		for _, a := range st.Action {
			if !slices.Contains(allowed, a) {
				t.Errorf("the app's policy allows %s", a)
			}
		}
		for _, r := range st.Resource {
			if r != "arn:aws:s3:::CHILLIN_BUCKET" && r != "arn:aws:s3:::CHILLIN_BUCKET/*" {
				t.Errorf("the app's policy reaches %s", r)
			}
		}
	}
}

// loadNATSUsers parses users.conf with the environment of a compose NATS
// service and returns its users by name.
func loadNATSUsers(t *testing.T, env map[string]*string) map[string]*server.User {
	t.Helper()
	for k, v := range env {
		if strings.HasSuffix(k, "_PASSWORD") && v != nil {
			t.Setenv(k, *v)
		}
	}
	dir := t.TempDir()
	opts, err := natsconf.UsersOptions(dir)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]*server.User{}
	for _, u := range opts.Users {
		users[u.Username] = u
	}
	return users
}

// subjectMatch reports whether NATS subject pattern p (with * and >)
// covers subject s, which may itself hold wildcards: then p must cover all
// that s covers.
func subjectMatch(p, s string) bool {
	pt, st := strings.Split(p, "."), strings.Split(s, ".")
	for i, tok := range pt {
		if tok == ">" {
			return i < len(st)
		}
		if i >= len(st) || st[i] == ">" {
			return false
		}
		if tok != "*" && (tok != st[i] || st[i] == "*") {
			return false
		}
	}
	return len(pt) == len(st)
}

func mayPublish(u *server.User, subject string) bool {
	if u.Permissions == nil || u.Permissions.Publish == nil {
		return true
	}
	for _, d := range u.Permissions.Publish.Deny {
		if subjectMatch(d, subject) {
			return false
		}
	}
	return slices.ContainsFunc(u.Permissions.Publish.Allow, func(a string) bool { return subjectMatch(a, subject) })
}

// Every service connects to NATS as a user of its own, every such user has
// permissions, and they are what the services need and no more: the
// gateway publishes commands but cannot append to the whole log, nor
// rejections; only the validator creates streams; nobody but operators can
// delete or purge one.
func TestComposeNATSUsers(t *testing.T) {
	p := loadCompose(t)
	users := loadNATSUsers(t, p.Services["nats-1"].Environment)
	for name, want := range serviceUser {
		for _, raw := range strings.Split(*p.Services[name].Environment["CHILLIN_NATS_URL"], ",") {
			u, err := url.Parse(raw)
			if err != nil || u.User == nil {
				t.Errorf("%s connects to NATS without credentials: %v", name, err)
				continue
			}
			pw, _ := u.User.Password()
			nu := users[u.User.Username()]
			switch {
			case u.User.Username() != want:
				t.Errorf("%s connects to NATS as %s, want %s", name, u.User.Username(), want)
			case nu == nil || nu.Password != pw:
				t.Errorf("%s: NATS user %s with that password is not in users.conf", name, want)
			}
		}
	}
	for name, u := range users {
		if name == "admin" {
			continue
		}
		if u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe == nil {
			t.Errorf("NATS user %s has no permissions", name)
		}
	}
	for _, tc := range []struct {
		user, subject string
		may           bool
	}{
		{"gateway", events.RoomCmdSubject("x"), true},
		{"gateway", events.UserCmdSubject("alice"), true},
		{"gateway", "chat.evt.>", false},
		{"gateway", events.RoomSubject("x"), false},
		{"gateway", events.UserSubject("alice"), false},
		{"gateway", events.SessionSubject("alice"), false},
		{"gateway", events.RejectedSubject("alice"), false},
		{"gateway", "chat.reply.gw1.x", false},
		{"gateway", "$JS.API.STREAM.CREATE.CHAT_EVT", false},
		{"gateway", "$JS.API.STREAM.UPDATE.CHAT_EVT", false},
		{"gateway", "$JS.API.CONSUMER.CREATE.CHAT_CMD.validator-0", false},
		{"gateway", "$JS.ACK.CHAT_CMD.validator-0.1.2.3.4.5.6", false},
		{"validator", events.RoomSubject("x"), true},
		{"validator", events.RejSubject("alice"), true},
		{"validator", events.RejectedSubject("alice"), false},
		{"validator", "$JS.API.STREAM.MSG.GET.CHAT_CMD", true},
		// The validator appends every fact, accounts and sessions included.
		{"validator", events.SessionSubject("alice"), true},
		{"validator", events.UserSubject("alice"), true},
		{"validator", events.ReadPosSubject("alice", "x"), true},
		{"gateway", events.ReadPosSubject("alice", "x"), false},
		{"projector", events.ReadPosSubject("alice", "x"), false},
		{"validator", events.RoomCmdSubject("x"), false},
		{"validator", "$JS.API.STREAM.CREATE.CHAT_EVT", true},
		{"projector", "chat.evt.>", false},
		{"projector", events.RoomSubject("x"), false},
		{"projector", events.RoomCmdSubject("x"), false},
		{"projector", "$JS.API.CONSUMER.CREATE.CHAT_EVT.projector-pg.chat.evt.>", true},
		{"projector", "$JS.API.STREAM.CREATE.CHAT_EVT", false},
		{"projector", "$JS.API.CONSUMER.CREATE.CHAT_REJ.projector-live-rejections.chat.rej.>", true},
	} {
		if got := mayPublish(users[tc.user], tc.subject); got != tc.may {
			t.Errorf("NATS user %s may publish %s: %v, want %v", tc.user, tc.subject, got, tc.may)
		}
	}
	for name, u := range users {
		if name == "admin" {
			continue
		}
		for _, s := range []string{"$JS.API.STREAM.DELETE.CHAT_EVT", "$JS.API.STREAM.PURGE.CHAT_EVT", "$JS.API.STREAM.MSG.DELETE.CHAT_EVT", "$JS.API.STREAM.DELETE.CHAT_CMD"} {
			if mayPublish(u, s) {
				t.Errorf("NATS user %s may publish %s", name, s)
			}
		}
	}
	// The NATS servers read users.conf beside cluster.conf.
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		found := false
		for _, v := range p.Services[n].Volumes {
			if v.Target == "/etc/nats/users.conf" && v.Source == filepath.Join(root(t), "ops", "nats", "users.conf") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s does not mount users.conf beside cluster.conf", n)
		}
	}
}

// redisUserRe finds the users of the redis command line: name, password
// and rules (a variable of the redis service's environment).
var redisUserRe = regexp.MustCompile(`--user (\S+) on (nopass|">\$\w+") (.*?)\s*(?:--user|$)`)

// The Redis users of compose.yml, applied to this machine's Redis under
// test names: each reaches keys and channels under chillin: alone, runs no
// admin or dangerous command, and the validator has no pub/sub. A client
// without a user may only PING.
func TestComposeRedisACL(t *testing.T) {
	p := loadCompose(t)
	rs := p.Services["redis"]
	cmd := strings.Join(rs.Command, " ")
	users := map[string][]string{}
	rest := cmd
	for {
		m := redisUserRe.FindStringSubmatchIndex(rest)
		if m == nil {
			break
		}
		name, rules := rest[m[2]:m[3]], rest[m[6]:m[7]]
		if strings.HasPrefix(rules, "$") {
			v := rs.Environment[strings.TrimPrefix(rules, "$")]
			if v == nil {
				t.Fatalf("redis: user %s's rules %s are not in its environment", name, rules)
			}
			rules = *v
		}
		users[name] = strings.Fields(rules)
		rest = rest[m[7]:]
	}
	if len(users) != 4 || users["default"] == nil {
		t.Fatalf("redis users %v, want default, gateway, validator and projector, from %q", users, cmd)
	}
	for name, want := range serviceUser {
		u, err := url.Parse(*p.Services[name].Environment["CHILLIN_REDIS_URL"])
		if err != nil || u.User == nil || u.User.Username() != want {
			t.Errorf("%s connects to Redis as %v, want %s", name, u, want)
			continue
		}
		pw, _ := u.User.Password()
		if v := rs.Environment["REDIS_"+strings.ToUpper(want)+"_PASSWORD"]; v == nil || *v != pw {
			t.Errorf("%s's Redis password is not its user's", name)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := redistest.Client(t)
	opts, err := redis.ParseURL(redistest.URL())
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	as := func(t *testing.T, user string) *redis.Client {
		t.Helper()
		name := "chillin-acl-test-" + user + "-" + suffix
		args := []any{"ACL", "SETUSER", name, "reset", "on"}
		if user == "default" {
			args = append(args, "nopass")
		} else {
			args = append(args, ">pw-"+suffix)
		}
		for _, r := range users[user] {
			if r != "on" {
				args = append(args, r)
			}
		}
		if err := admin.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("ACL SETUSER %v: %v", args, err)
		}
		t.Cleanup(func() { admin.Do(context.Background(), "ACL", "DELUSER", name) })
		o := *opts
		o.Username, o.Password = name, "pw-"+suffix
		c := redis.NewClient(&o)
		t.Cleanup(func() { c.Close() })
		return c
	}
	// A refused command answers NOPERM; a script's refused call says so.
	noperm := func(err error) bool {
		return err != nil && (strings.Contains(err.Error(), "NOPERM") || strings.Contains(err.Error(), "can't access"))
	}
	key := "chillin:acltest:" + suffix
	t.Cleanup(func() { admin.Del(context.Background(), key) })

	for _, svc := range []string{"gateway", "validator", "projector"} {
		t.Run(svc, func(t *testing.T) {
			c := as(t, svc)
			if err := c.Set(ctx, key, "x", time.Minute).Err(); err != nil {
				t.Errorf("SET %s: %v", key, err)
			}
			if err := c.Eval(ctx, "return redis.call('GET', KEYS[1])", []string{key}).Err(); err != nil {
				t.Errorf("a script on %s: %v", key, err)
			}
			for what, err := range map[string]error{
				"SET outside chillin:":      c.Set(ctx, "other:"+suffix, "x", time.Minute).Err(),
				"a script outside chillin:": c.Eval(ctx, "return redis.call('GET', 'other:x')", nil).Err(),
				"FLUSHALL":                  c.FlushAll(ctx).Err(),
				"KEYS":                      c.Keys(ctx, "*").Err(),
				"CONFIG":                    c.ConfigGet(ctx, "*").Err(),
				"ACL":                       c.Do(ctx, "ACL", "LIST").Err(),
				"CLIENT LIST":               c.ClientList(ctx).Err(),
				"PUBLISH outside chillin:":  c.Publish(ctx, "other:room:x", "x").Err(),
			} {
				if !noperm(err) {
					t.Errorf("%s: %v, want NOPERM", what, err)
				}
			}
			err := c.Publish(ctx, "chillin:room:x", "x").Err()
			if pubsub := svc != "validator"; pubsub == (err != nil) {
				t.Errorf("PUBLISH chillin:room:x: %v (pub/sub allowed: %v)", err, pubsub)
			}
		})
	}
	t.Run("no user", func(t *testing.T) {
		c := as(t, "default")
		if err := c.Ping(ctx).Err(); err != nil {
			t.Errorf("PING: %v", err)
		}
		if err := c.Get(ctx, key).Err(); !noperm(err) {
			t.Errorf("GET without a user: %v, want NOPERM", err)
		}
	})
}

// The gateways believe X-Forwarded-For from nginx alone: its fixed address on
// the one network it shares with them.
func TestComposeTrustedProxy(t *testing.T) {
	p := loadCompose(t)
	nginx := p.Services["nginx"]
	edge := nginx.Networks["edge"]
	if edge == nil || edge.Ipv4Address == "" || len(nginx.Networks) != 1 {
		t.Fatalf("nginx networks %v: want the edge network alone, at a fixed address", nginx.Networks)
	}
	for _, name := range []string{"gateway-1", "gateway-2"} {
		gw := p.Services[name]
		v := gw.Environment["CHILLIN_TRUSTED_PROXIES"]
		if v == nil || *v != edge.Ipv4Address {
			t.Errorf("%s: CHILLIN_TRUSTED_PROXIES %v, want nginx's %s", name, v, edge.Ipv4Address)
		}
		if _, ok := gw.Networks["edge"]; !ok {
			t.Errorf("%s is not on the edge network", name)
		}
	}
}
