package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// commands returns the distinct commands of rows, in the order the rows
// first use them. Two commands of one name but different lines are an
// error: their outputs would overwrite each other.
func commands(rows []Row) ([]Command, error) {
	seen := map[string]string{}
	var cmds []Command
	for _, r := range rows {
		c := r.Command
		if line, ok := seen[c.Name]; ok {
			if line != c.Line {
				return nil, fmt.Errorf("command %s is both %q and %q", c.Name, line, c.Line)
			}
			continue
		}
		seen[c.Name] = c.Line
		cmds = append(cmds, c)
	}
	return cmds, nil
}

// The lines around a command's output in its saved file.
const (
	outputStart = "# output:\n"
	outputEnd   = "# end of output\n"
)

// header is the start of a saved raw output: what the run was, where.
// Each line is "# key: value"; the parser ignores them.
func header(c Command, start time.Time, loadStart string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# command: %s\n", c.Line)
	fmt.Fprintf(&b, "# date: %s\n", start.UTC().Format(time.RFC3339))
	gv, err := exec.Command("go", "version").Output()
	if err != nil {
		gv = []byte("go version: " + err.Error())
	}
	fmt.Fprintf(&b, "# go version: %s\n", strings.TrimSpace(string(gv)))
	fmt.Fprintf(&b, "# nproc: %d\n", runtime.NumCPU())
	fmt.Fprintf(&b, "# load average at the start: %s\n", loadStart)
	if v, ok := os.LookupEnv("BACKLOG_CELLS"); ok && strings.Contains(c.Line, "BACKLOG_CELLS") {
		fmt.Fprintf(&b, "# BACKLOG_CELLS: %s\n", v)
	}
	b.WriteString(outputStart)
	return b.String()
}

// loadavg is /proc/loadavg's three averages.
func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown (/proc/loadavg: " + strings.TrimSpace(string(data)) + ")"
	}
	return strings.Join(f[:3], " ")
}

// run runs c with bash in the current directory, its output shown on
// progress as it comes, and saves it in dir/Name.txt after a header and
// followed by "# load average at the end" and "# exit" lines.
func run(c Command, dir string, progress io.Writer) (output, error) {
	start, load := time.Now(), loadavg()
	var buf bytes.Buffer
	cmd := exec.Command("bash", "-c", c.Line)
	cmd.Stdout = io.MultiWriter(&buf, progress)
	cmd.Stderr = cmd.Stdout
	runErr := cmd.Run()
	exit := "0"
	if runErr != nil {
		exit = runErr.Error()
	}
	out := buf.String()
	if out != "" && !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	text := header(c, start, load) + out + outputEnd +
		fmt.Sprintf("# load average at the end: %s\n# took: %s\n# exit: %s\n", loadavg(), time.Since(start).Round(time.Second), exit)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return output{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, c.Name+".txt"), []byte(text), 0o644); err != nil {
		return output{}, err
	}
	return readOutput(c, strings.NewReader(text), filepath.Join(dir, c.Name+".txt"))
}

// load reads c's output saved by an earlier run in dir. A missing file
// is no error: the output says why it has no figures.
func load(c Command, dir string) (output, error) {
	path := filepath.Join(dir, c.Name+".txt")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return output{err: "no " + path + ": not run"}, nil
	}
	if err != nil {
		return output{}, err
	}
	defer f.Close()
	return readOutput(c, f, path)
}

// readOutput parses a saved output: its header's command must be c's
// (else the figures are another command's), and a failed command's
// figures are not used.
func readOutput(c Command, r io.Reader, path string) (output, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return output{}, fmt.Errorf("%s: %w", path, err)
	}
	// The header is the "# key: value" lines before outputStart, the
	// trailer those after the last outputEnd: lines of the output alike
	// are not taken.
	head := map[string]string{}
	text := string(data)
	before, _, okStart := strings.Cut(text, outputStart)
	i := strings.LastIndex(text, outputEnd)
	if !okStart || i < 0 {
		return output{err: path + " has no " + strings.TrimSpace(outputEnd) + " line: the run did not end"}, nil
	}
	for _, line := range strings.Split(before+text[i+len(outputEnd):], "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "# "), ": "); ok && strings.HasPrefix(line, "# ") {
			head[k] = v
		}
	}
	if head["command"] != c.Line {
		return output{err: fmt.Sprintf("%s is of %q, not of this command", path, head["command"])}, nil
	}
	if exit := head["exit"]; exit != "0" {
		return output{err: "the command failed: " + exit + ", see " + path}, nil
	}
	res, err := parse(bytes.NewReader(data))
	if err != nil {
		return output{}, fmt.Errorf("%s: %w", path, err)
	}
	return output{res: res, date: head["date"], load: head["load average at the start"],
		goVersion: head["go version"], nproc: head["nproc"]}, nil
}

// errNotMeasured is benchtable's error when the table was written but
// some figure in it is not measured.
type errNotMeasured []string

func (e errNotMeasured) Error() string {
	s := fmt.Sprintf("not measured (%d):", len(e))
	for _, p := range e {
		s += "\n  " + p
	}
	return s
}

// benchtable does what main's flags ask; the table (or the -list) goes to
// stdout, the commands' output to stderr as they run.
func benchtable(stdout io.Writer, dir, from, runPat, out, readme string, list bool) error {
	if readme != "" {
		table, err := os.ReadFile(out)
		if err != nil {
			return err
		}
		if strings.Contains(string(table), "not measured (") {
			return fmt.Errorf("%s has figures not measured: not copied into %s (run make bench in full first)", out, readme)
		}
		doc, err := os.ReadFile(readme)
		if err != nil {
			return err
		}
		updated, err := replaceBetween(string(doc), string(table))
		if err != nil {
			return fmt.Errorf("%s: %w", readme, err)
		}
		return os.WriteFile(readme, []byte(updated), 0o644)
	}
	cmds, err := commands(rows)
	if err != nil {
		return err
	}
	if list {
		for _, c := range cmds {
			fmt.Fprintf(stdout, "%-24s %s\n", c.Name, c.Line)
		}
		return nil
	}
	re, err := regexp.Compile(runPat)
	if err != nil {
		return fmt.Errorf("-run: %w", err)
	}
	if from != "" {
		dir, re = from, nil
	}
	outs := map[string]output{}
	for _, c := range cmds {
		var o output
		var err error
		if re != nil && re.MatchString(c.Name) {
			fmt.Fprintf(os.Stderr, "benchtable: %s: %s\n", c.Name, c.Line)
			o, err = run(c, dir, os.Stderr)
		} else {
			o, err = load(c, dir)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		outs[c.Name] = o
	}
	doc, problems := document(rows, cmds, outs)
	fmt.Fprint(stdout, doc)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
		return err
	}
	if len(problems) > 0 {
		return errNotMeasured(problems)
	}
	return nil
}
