// Package redistest gives tests the machine's Redis (CHILLIN_TEST_REDIS_URL,
// default redis://127.0.0.1:6379/0) and a random key prefix of their own,
// whose keys are deleted by t.Cleanup. It is imported by tests only.
package redistest
