package main

import (
	"strings"
	"testing"
)

// TestRedactPassword: no secret of a database URL reaches the start-up log.
func TestRedactPassword(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"postgres://memenow:s3cret@db:5432/memenow", "postgres://memenow:xxxxx@db:5432/memenow"},
		{"postgres://memenow@db/memenow?sslmode=require", "postgres://memenow@db/memenow?sslmode=require"},
		{"postgres://u@db/m?password=s3cret&sslmode=disable", "postgres://u@db/m?password=xxxxx&sslmode=disable"},
		{"postgres://u@db/m?sslpassword=s3cret", "postgres://u@db/m?sslpassword=xxxxx"},
		{"postgres://u:p%40ss@db/m?auth_token=s3cret&api_key=s3cret", "postgres://u:xxxxx@db/m?api_key=xxxxx&auth_token=xxxxx"},
	} {
		got := redactPassword(tt.in)
		if got != tt.want {
			t.Errorf("redactPassword(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "s3cret") || strings.Contains(got, "p%40ss") {
			t.Errorf("%q leaks a secret", got)
		}
	}
	if got := redactPassword("postgres://u:s3cret@[bad"); strings.Contains(got, "s3cret") {
		t.Errorf("an unparsable URL leaks: %q", got)
	}
}
