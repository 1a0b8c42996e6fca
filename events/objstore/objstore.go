// Package objstore is Chillin's adapter to S3-compatible object storage
// (MinIO in development and tests) and to the upload records kept in Redis
// beside it: presigned POST policies for uploads, presigned GETs for
// downloads, what an object holds (media.Object), and the upload records
// (media.Upload) that tell who may attach an object, once.
//
// It holds no rules of its own: the content types, limits and key shapes are
// events/media's. It never reads a whole object: Inspect reads the first
// media.HeadBytes.
//
// Concurrency: a Store and a Records are safe for concurrent use.
package objstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chillin-chat/chillin/events/media"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
	"github.com/redis/go-redis/v9"
)

// DefaultRegion is the region signed for when none is configured: MinIO's.
const DefaultRegion = "us-east-1"

// Config names the storage: CHILLIN_S3_* in every service.
type Config struct {
	// Endpoint is host:port, or an http:// or https:// URL (https implies
	// Secure). Empty: no storage is configured.
	Endpoint  string
	AccessKey string
	SecretKey string
	Bucket    string
	// Secure talks HTTPS to a host:port Endpoint.
	Secure bool
	// Region is signed into requests (default us-east-1).
	Region string
	// PublicURL is where browsers reach the storage (http:// or https://
	// URL), when it is not Endpoint: upload forms post there and download
	// links point there. Empty: Endpoint.
	PublicURL string
}

// Enabled reports whether storage is configured.
func (c Config) Enabled() bool { return c.Endpoint != "" }

// endpoint splits an endpoint setting into host:port and whether it is HTTPS.
func endpoint(s string, secure bool) (string, bool, error) {
	if !strings.Contains(s, "://") {
		if s == "" || strings.ContainsAny(s, "/?#") {
			return "", false, fmt.Errorf("%q: want host:port or an http(s) URL", s)
		}
		return s, secure, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", false, fmt.Errorf("%q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("%q: want http(s)://host[:port] with no path", s)
	}
	return u.Host, u.Scheme == "https", nil
}

// BrowserOrigin is the scheme://host[:port] at which browsers reach the
// storage: PublicURL if set, else Endpoint; "" when storage is not enabled or
// the setting is not a valid origin (Validate reports those).
func (c Config) BrowserOrigin() string {
	if !c.Enabled() {
		return ""
	}
	raw, secure := c.Endpoint, c.Secure
	if c.PublicURL != "" {
		raw, secure = c.PublicURL, false
	}
	host, https, err := endpoint(raw, secure)
	if err != nil || strings.ContainsAny(host, " ;,'") {
		return ""
	}
	if https {
		return "https://" + host
	}
	return "http://" + host
}

// Validate checks a configuration that Enabled.
func (c Config) Validate() error {
	var errs []error
	if _, _, err := endpoint(c.Endpoint, c.Secure); err != nil {
		errs = append(errs, fmt.Errorf("S3 endpoint %w", err))
	}
	if c.PublicURL != "" {
		if _, _, err := endpoint(c.PublicURL, false); err != nil || !strings.Contains(c.PublicURL, "://") {
			errs = append(errs, fmt.Errorf("S3 public URL %q: want http(s)://host[:port]", c.PublicURL))
		}
	}
	if c.AccessKey == "" || c.SecretKey == "" {
		errs = append(errs, errors.New("S3 access key and secret key are required"))
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		errs = append(errs, fmt.Errorf("S3 bucket %q: %w", c.Bucket, err))
	}
	return errors.Join(errs...)
}

// Store is one bucket of object storage.
type Store struct {
	cfg    Config
	api    *minio.Client // talks to Endpoint
	signer *minio.Client // signs browser URLs for PublicURL; never connects

	mu       sync.Mutex
	bucketOK bool
}

// Open returns the store of cfg. It does not connect: storage may be down
// at start, and every call reports it then.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Region == "" {
		cfg.Region = DefaultRegion
	}
	host, secure, _ := endpoint(cfg.Endpoint, cfg.Secure)
	creds := credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	api, err := minio.New(host, &minio.Options{Creds: creds, Secure: secure, Region: cfg.Region, MaxRetries: 1})
	if err != nil {
		return nil, fmt.Errorf("object storage %s: %w", cfg.Endpoint, err)
	}
	signer := api
	if cfg.PublicURL != "" {
		phost, psecure, _ := endpoint(cfg.PublicURL, false)
		// With the region set, presigning never asks the server anything.
		if signer, err = minio.New(phost, &minio.Options{Creds: creds, Secure: psecure, Region: cfg.Region}); err != nil {
			return nil, fmt.Errorf("object storage public URL %s: %w", cfg.PublicURL, err)
		}
	}
	return &Store{cfg: cfg, api: api, signer: signer}, nil
}

// Bucket is the store's bucket name.
func (s *Store) Bucket() string { return s.cfg.Bucket }

// EnsureBucket creates the bucket if it does not exist. After one success it
// returns at once.
func (s *Store) EnsureBucket(ctx context.Context) error {
	s.mu.Lock()
	ok := s.bucketOK
	s.mu.Unlock()
	if ok {
		return nil
	}
	exists, err := s.api.BucketExists(ctx, s.cfg.Bucket)
	if err != nil {
		return fmt.Errorf("object storage: bucket %s: %w", s.cfg.Bucket, err)
	}
	if !exists {
		err := s.api.MakeBucket(ctx, s.cfg.Bucket, minio.MakeBucketOptions{Region: s.cfg.Region})
		if err != nil && !isCode(err, "BucketAlreadyOwnedByYou") && !isCode(err, "BucketAlreadyExists") {
			return fmt.Errorf("object storage: create bucket %s: %w", s.cfg.Bucket, err)
		}
	}
	s.mu.Lock()
	s.bucketOK = true
	s.mu.Unlock()
	return nil
}

// Ping checks that the storage answers and the bucket exists (creating it
// if it does not): the readiness probe.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.Lock()
	s.bucketOK = false
	s.mu.Unlock()
	return s.EnsureBucket(ctx)
}

func isCode(err error, code string) bool { return minio.ToErrorResponse(err).Code == code }

// Stat returns whether key exists, its size and its stored content type,
// without reading it (Object.Head stays empty).
func (s *Store) Stat(ctx context.Context, key string) (media.Object, error) {
	info, err := s.api.StatObject(ctx, s.cfg.Bucket, key, minio.StatObjectOptions{})
	if isCode(err, "NoSuchKey") {
		return media.Object{}, nil
	}
	if err != nil {
		return media.Object{}, fmt.Errorf("object storage: stat %s: %w", key, err)
	}
	return media.Object{Exists: true, Size: info.Size, ContentType: info.ContentType}, nil
}

// Inspect returns what the bucket holds under key: whether it exists, its
// size and stored content type, and its first media.HeadBytes bytes. A
// missing object is not an error; storage that does not answer is.
func (s *Store) Inspect(ctx context.Context, key string) (media.Object, error) {
	o, err := s.Stat(ctx, key)
	if err != nil || !o.Exists || o.Size == 0 {
		return o, err
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(0, min(o.Size, media.HeadBytes)-1); err != nil {
		return o, fmt.Errorf("object storage: read %s: %w", key, err)
	}
	obj, err := s.api.GetObject(ctx, s.cfg.Bucket, key, opts)
	if err != nil {
		return o, fmt.Errorf("object storage: read %s: %w", key, err)
	}
	defer obj.Close()
	o.Head, err = io.ReadAll(io.LimitReader(obj, media.HeadBytes))
	if isCode(err, "NoSuchKey") {
		return media.Object{}, nil // removed between the two requests
	}
	if err != nil {
		return o, fmt.Errorf("object storage: read %s: %w", key, err)
	}
	return o, nil
}

// Put stores data under key (tests and tools; people upload through
// PresignPost).
func (s *Store) Put(ctx context.Context, key, contentType string, data []byte) error {
	_, err := s.api.PutObject(ctx, s.cfg.Bucket, key, strings.NewReader(string(data)), int64(len(data)),
		minio.PutObjectOptions{ContentType: contentType})
	if err != nil {
		return fmt.Errorf("object storage: put %s: %w", key, err)
	}
	return nil
}

// Seal copies the object src to dst inside storage (no bytes pass through
// here), unless dst already exists: a sealed copy, once made, is never
// replaced. A missing src is an error.
func (s *Store) Seal(ctx context.Context, src, dst string) error {
	o, err := s.Stat(ctx, dst)
	if err != nil || o.Exists {
		return err
	}
	_, err = s.api.CopyObject(ctx, minio.CopyDestOptions{Bucket: s.cfg.Bucket, Object: dst},
		minio.CopySrcOptions{Bucket: s.cfg.Bucket, Object: src})
	if err != nil {
		return fmt.Errorf("object storage: copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// Remove deletes the objects of keys; one already gone is no error.
func (s *Store) Remove(ctx context.Context, keys ...string) error {
	for _, key := range keys {
		err := s.api.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{})
		if err != nil && !isCode(err, "NoSuchKey") {
			return fmt.Errorf("object storage: remove %s: %w", key, err)
		}
	}
	return nil
}

// PresignPost returns a browser upload form for exactly key: the URL to
// POST multipart/form-data to and the fields to send before the file. The
// storage accepts it only until expires, only with Content-Type
// contentType, and only for 1 to maxSize bytes.
func (s *Store) PresignPost(ctx context.Context, key, contentType string, maxSize int64, expires time.Time) (string, map[string]string, error) {
	p := minio.NewPostPolicy()
	for _, err := range []error{
		p.SetBucket(s.cfg.Bucket), p.SetKey(key), p.SetExpires(expires.UTC()),
		p.SetContentType(contentType), p.SetContentLengthRange(1, maxSize),
	} {
		if err != nil {
			return "", nil, fmt.Errorf("upload policy for %s: %w", key, err)
		}
	}
	u, fields, err := s.signer.PresignedPostPolicy(ctx, p)
	if err != nil {
		return "", nil, fmt.Errorf("upload policy for %s: %w", key, err)
	}
	return u.String(), fields, nil
}

// PresignGet returns a URL that serves key for ttl, with the response's
// Content-Type and Content-Disposition set as given.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration, contentType, disposition string) (string, error) {
	q := url.Values{}
	q.Set("response-content-type", contentType)
	q.Set("response-content-disposition", disposition)
	u, err := s.signer.PresignedGetObject(ctx, s.cfg.Bucket, key, ttl, q)
	if err != nil {
		return "", fmt.Errorf("download link for %s: %w", key, err)
	}
	return u.String(), nil
}

// RemoveBucket deletes every object of the bucket and then the bucket: for
// tests, which each use a bucket of their own.
func (s *Store) RemoveBucket(ctx context.Context) error {
	objects := s.api.ListObjects(ctx, s.cfg.Bucket, minio.ListObjectsOptions{Recursive: true})
	for e := range s.api.RemoveObjects(ctx, s.cfg.Bucket, objects, minio.RemoveObjectsOptions{}) {
		if e.Err != nil {
			return fmt.Errorf("object storage: remove %s: %w", e.ObjectName, e.Err)
		}
	}
	if err := s.api.RemoveBucket(ctx, s.cfg.Bucket); err != nil && !isCode(err, "NoSuchBucket") {
		return fmt.Errorf("object storage: remove bucket %s: %w", s.cfg.Bucket, err)
	}
	return nil
}

// Disposition is the Content-Disposition a file is served with: inline for
// the image types (which browsers show and never run), attachment for
// everything else, with the file's name made to agree with its type
// (media.ServedName) either way, so a saved file opens as what it is.
func Disposition(contentType, name string) string {
	kind := "attachment"
	if media.IsImage(contentType) {
		kind = "inline"
	}
	name = media.ServedName(name, contentType)
	ascii := make([]byte, 0, len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '%' {
			c = '_'
		}
		ascii = append(ascii, c)
	}
	if len(ascii) == 0 {
		ascii = []byte("file")
	}
	return kind + `; filename="` + string(ascii) + `"; filename*=UTF-8''` + url.PathEscape(name)
}

// Records keeps the upload records (media.Upload) in Redis, under
// <prefix>upload:<key>, as hashes that expire media.RecordTTL after the
// upload was handed out.
type Records struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRecords returns the records kept in rdb under prefix.
func NewRecords(rdb redis.UniversalClient, prefix string) Records {
	return Records{rdb: rdb, prefix: prefix}
}

func (r Records) key(k string) string { return r.prefix + "upload:" + k }

// Put records an upload that was just handed out.
func (r Records) Put(ctx context.Context, key string, u media.Upload) error {
	pipe := r.rdb.TxPipeline()
	pipe.HSet(ctx, r.key(key), "user", u.User, "purpose", u.Purpose, "type", u.ContentType, "size", strconv.FormatInt(u.Size, 10))
	pipe.PExpire(ctx, r.key(key), media.RecordTTL)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("record upload %s: %w", key, err)
	}
	return nil
}

// Get returns the record of key; found is false when there is none (never
// handed out, or expired).
func (r Records) Get(ctx context.Context, key string) (u media.Upload, found bool, err error) {
	m, err := r.rdb.HGetAll(ctx, r.key(key)).Result()
	if err != nil {
		return u, false, fmt.Errorf("upload record %s: %w", key, err)
	}
	if len(m) == 0 {
		return u, false, nil
	}
	size, err := strconv.ParseInt(m["size"], 10, 64)
	if err != nil {
		return u, false, fmt.Errorf("upload record %s: size %q", key, m["size"])
	}
	return media.Upload{User: m["user"], Purpose: m["purpose"], ContentType: m["type"], Size: size, Claim: m["claim"],
		Deleted: m["deleted"] != ""}, true, nil
}

// markDeletedScript marks a record deleted, if there is one.
var markDeletedScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'deleted', '1')
return 1`)

// MarkDeleted records that the message holding the upload of key was
// deleted (Upload.Deleted), for as long as the record lives; no record is
// created for an upload whose record is gone.
func (r Records) MarkDeleted(ctx context.Context, key string) error {
	if err := markDeletedScript.Run(ctx, r.rdb, []string{r.key(key)}).Err(); err != nil {
		return fmt.Errorf("mark upload %s deleted: %w", key, err)
	}
	return nil
}

// claimScript marks a record used by ARGV[1] unless it already is, and
// returns who it is used by; nil when there is no record.
var claimScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSETNX', KEYS[1], 'claim', ARGV[1])
return redis.call('HGET', KEYS[1], 'claim')`)

// Claim marks the upload of key as attached to claimant (media.Claimant),
// atomically, unless it already is attached: it returns the claimant that
// holds it now (claimant itself on success, or the earlier one). found is
// false when there is no record.
func (r Records) Claim(ctx context.Context, key, claimant string) (holder string, found bool, err error) {
	holder, err = claimScript.Run(ctx, r.rdb, []string{r.key(key)}, claimant).Text()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("claim upload %s: %w", key, err)
	}
	return holder, true, nil
}
