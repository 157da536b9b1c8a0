//go:build !(js && wasm)

// Command memenow-worker is MemeNow Storage on Cloudflare Workers; it only
// builds with GOOS=js GOARCH=wasm. Use `go run ./cmd/memenow-worker/build`.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "memenow-worker runs on Cloudflare Workers: build it with `go run ./cmd/memenow-worker/build`")
	os.Exit(2)
}
