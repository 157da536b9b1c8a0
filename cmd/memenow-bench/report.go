package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one measured number.
type Result struct {
	Section string  `json:"section"`
	Metric  string  `json:"metric"`
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"`
	Target  string  `json:"target,omitempty"`
	Met     *bool   `json:"met,omitempty"` // nil when the metric has no target
	Note    string  `json:"note,omitempty"`
}

// Machine describes where the benchmark ran.
type Machine struct {
	CPUs        int    `json:"cpus"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	CPUModel    string `json:"cpu_model,omitempty"`
	MemoryMiB   int64  `json:"memory_mib,omitempty"`
	GoVersion   string `json:"go_version"`
	OS          string `json:"os"`
	Kernel      string `json:"kernel,omitempty"`
	LoadStart   string `json:"load_average_start,omitempty"`
	LoadEnd     string `json:"load_average_end,omitempty"`
	TempDir     string `json:"temp_dir"`
	ServerBuild string `json:"server_build"`
}

// Skip is a section, or a part of one, that was not run because the
// outside server it needs was not named.
type Skip struct {
	Section string `json:"section"`
	Reason  string `json:"reason"`
}

// Report is the whole run's output.
type Report struct {
	Machine  Machine   `json:"machine"`
	Quick    bool      `json:"quick"`
	Started  time.Time `json:"started"`
	Seconds  float64   `json:"seconds"`
	Sections []string  `json:"sections"` // the sections run
	Skipped  []Skip    `json:"skipped"`
	Results  []Result  `json:"results"`
	Errors   []string  `json:"errors"`
}

// atMost returns a result whose target is value <= limit.
func atMost(section, metric string, value float64, unit string, limit float64) Result {
	met := value <= limit
	return Result{Section: section, Metric: metric, Value: value, Unit: unit,
		Target: "≤ " + formatValue(limit) + " " + unit, Met: &met}
}

// atLeast returns a result whose target is value >= limit.
func atLeast(section, metric string, value float64, unit string, limit float64) Result {
	met := value >= limit
	return Result{Section: section, Metric: metric, Value: value, Unit: unit,
		Target: "≥ " + formatValue(limit) + " " + unit, Met: &met}
}

// info returns a result without a target.
func info(section, metric string, value float64, unit string) Result {
	return Result{Section: section, Metric: metric, Value: value, Unit: unit}
}

// formatValue prints v with a precision that suits its size.
func formatValue(v float64) string {
	a := v
	if a < 0 {
		a = -a
	}
	prec := 3
	switch {
	case a >= 100 || a == float64(int64(a)):
		prec = 0
	case a >= 10:
		prec = 1
	case a >= 1:
		prec = 2
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func metText(m *bool) string {
	switch {
	case m == nil:
		return ""
	case *m:
		return "yes"
	}
	return "MISSED"
}

// write prints the table to w and writes results.json and results.md to dir.
func (r *Report) write(w io.Writer, dir string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SECTION\tMETRIC\tVALUE\tUNIT\tTARGET\tMET\tNOTE")
	for _, res := range r.Results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", res.Section, res.Metric, formatValue(res.Value),
			res.Unit, res.Target, metText(res.Met), res.Note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, r.machineLine())
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "SKIPPED: %s: %s\n", s.Section, s.Reason)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "ERROR: %s\n", e)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(r.markdown()), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(w, "results written to %s\n", filepath.Join(dir, "results.{json,md}"))
	return nil
}

func (r *Report) machineLine() string {
	m := r.Machine
	mode := "full"
	if r.Quick {
		mode = "quick"
	}
	return fmt.Sprintf("machine: %d CPUs (GOMAXPROCS %d) %s, %d MiB RAM, %s, %s %s; load average %s at start, %s at end; %s run of %.0f s on %s",
		m.CPUs, m.GOMAXPROCS, m.CPUModel, m.MemoryMiB, m.GoVersion, m.OS, m.Kernel, m.LoadStart, m.LoadEnd, mode, r.Seconds, m.TempDir)
}

// markdown renders the report as a Markdown document.
func (r *Report) markdown() string {
	var sb strings.Builder
	sb.WriteString("# memenow-storage benchmark\n\n")
	sb.WriteString(r.machineLine() + "\n\n")
	sb.WriteString("| Section | Metric | Value | Unit | Target | Met | Note |\n")
	sb.WriteString("|---|---|--:|---|---|---|---|\n")
	esc := strings.NewReplacer("|", `\|`, "\n", " ")
	for _, res := range r.Results {
		fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s | %s |\n", res.Section, esc.Replace(res.Metric),
			formatValue(res.Value), res.Unit, res.Target, metText(res.Met), esc.Replace(res.Note))
	}
	if len(r.Skipped) > 0 {
		sb.WriteString("\n## Skipped (not run)\n\n")
		for _, s := range r.Skipped {
			sb.WriteString("- " + s.Section + ": " + esc.Replace(s.Reason) + "\n")
		}
	}
	if len(r.Errors) > 0 {
		sb.WriteString("\n## Errors\n\n")
		for _, e := range r.Errors {
			sb.WriteString("- " + esc.Replace(e) + "\n")
		}
	}
	return sb.String()
}

// describeMachine collects the machine's facts; those it cannot read stay empty.
func describeMachine(tmp string) Machine {
	m := Machine{CPUs: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version(),
		OS: runtime.GOOS + "/" + runtime.GOARCH, TempDir: tmp, LoadStart: loadAverage()}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
		m.MemoryMiB = kb >> 10
	}
	return m
}

// loadAverage returns the 1, 5 and 15 minute load averages, or "".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// procField returns the value of the first "name: value" line of a /proc file.
func procField(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	return fieldOf(f, name)
}

// fieldOf returns the value of the first "name: value" line of r.
func fieldOf(r io.Reader, name string) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == name {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// percentile returns the p-th percentile (0 < p <= 100, nearest rank) of d.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	rank := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
