package main

import (
	"context"
	"encoding/json"
	"io"
)

// runStatus is the status subcommand: it prints the status of upload ID as
// JSON. args are the arguments after "status".
func runStatus(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, common := cliFlagSet("status", cliDoc{
		usage:    "status UPLOAD_ID [flags]",
		about:    "Print the state of an upload and its stored chunks as JSON.",
		examples: []string{"memenow-storage status 1641987000000-550e8400-e29b-41d4-a716-446655440000"},
	}, getenv, stderr)
	pos, code, ok := cliParse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || pos[0] == "" {
		return cliUsageError(fs, stderr, "expected one UPLOAD_ID, got %d arguments", len(pos))
	}
	st, err := common.client().Status(ctx, pos[0])
	if err != nil {
		return common.fail(stderr, "status", err)
	}
	return cliPrintJSON(stdout, stderr, "status", st)
}

// runCancel is the cancel subcommand: it cancels upload ID and prints the
// server's answer as JSON. args are the arguments after "cancel".
func runCancel(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs, common := cliFlagSet("cancel", cliDoc{
		usage:    "cancel UPLOAD_ID [flags]",
		about:    "Abandon an unfinished upload: its chunks and reserved key are freed. Prints the server's answer as JSON.",
		examples: []string{"memenow-storage cancel 1641987000000-550e8400-e29b-41d4-a716-446655440000"},
	}, getenv, stderr)
	pos, code, ok := cliParse(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 || pos[0] == "" {
		return cliUsageError(fs, stderr, "expected one UPLOAD_ID, got %d arguments", len(pos))
	}
	res, err := common.client().Cancel(ctx, pos[0])
	if err != nil {
		return common.fail(stderr, "cancel", err)
	}
	return cliPrintJSON(stdout, stderr, "cancel", res)
}

// cliPrintJSON prints v as indented JSON.
func cliPrintJSON(stdout, stderr io.Writer, cmd string, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return cliFail(stderr, cmd, err)
	}
	return cliExitOK
}
