// Package kong holds no code: the directory carries the Kong packaging of the
// plugin (kong.conf fragment, DB-less kong.yaml and its dev variant, the
// Dockerfile, Kubernetes examples, the make dev script) and the tests that
// check those files agree with each other, with docker-compose.yml, with
// the README, and with what the plugin binary itself reports (-dump).
package kong
