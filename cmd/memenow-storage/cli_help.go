package main

import "flag"

// serveDoc is the -h text of serve.
var serveDoc = cliDoc{
	usage: "serve [flags]",
	about: "Run the HTTP service: the upload API, downloads and the browser page at /.\n" +
		"Every flag is also an environment variable (MEMENOW_ and the flag's name in\n" +
		"capitals, '-' as '_') and a key of the --config JSON file ('_' for '-');\n" +
		"a flag wins over the environment, which wins over the file. Sizes are bytes\n" +
		"or take a unit, in any case: KB, MB, GB (powers of 1000) or KiB, MiB, GiB\n" +
		"(powers of 1024), e.g. 95MiB. Stops cleanly on Ctrl-C or SIGTERM.",
	examples: []string{
		"memenow-storage serve",
		"memenow-storage serve --data-dir /var/lib/memenow --chunk-size 95MiB",
		"MEMENOW_JWT_SECRET=... memenow-storage serve --addr 0.0.0.0:8787 --cors-origins https://app.example.com",
	},
}

// setServeUsage gives serve's flag set its -h text (synopsis, what it
// does, its flags and examples, printed to the flag set's output) in place
// of flag's bare "Usage of serve:".
func setServeUsage(fs *flag.FlagSet) {
	fs.Usage = func() { cliPrintUsage(fs.Output(), fs, serveDoc) }
}
