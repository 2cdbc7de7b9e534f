// Command benchreport prints the table of `make bench` from the timings scripts/bench.sh
// collected: the median of each step's runs, ratios to the peers, throughput and memory.
package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: benchreport <timings.tsv> <source bytes> <label>")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer f.Close()
	source, _ := strconv.ParseFloat(os.Args[2], 64)
	secs, rss := map[string][]float64{}, map[string]float64{}
	var order []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "\t")
		if len(parts) != 3 {
			continue
		}
		v, _ := strconv.ParseFloat(parts[1], 64)
		m, _ := strconv.ParseFloat(parts[2], 64)
		if _, ok := secs[parts[0]]; !ok {
			order = append(order, parts[0])
		}
		secs[parts[0]] = append(secs[parts[0]], v)
		rss[parts[0]] = max(rss[parts[0]], m)
	}
	med := func(name string) float64 {
		v := slices.Clone(secs[name])
		if len(v) == 0 {
			return 0
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	ratio := func(a, b string) string {
		if med(b) == 0 || med(a) == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2fx", med(a)/med(b))
	}
	peers := map[string][2]string{
		"retire-archive": {"dump-zstd", "mydumper"},
		"retire-restore": {"zstd-mariadb", "myloader"},
		"retire-verify":  {"retire-archive", ""},
	}
	fmt.Printf("\n%s (source %.0f MiB in InnoDB, median of %d)\n", os.Args[3], source/(1<<20), len(secs["retire-archive"]))
	fmt.Printf("| step | wall s | vs peer 1 | vs peer 2 | MB/s of source | output bytes | peak RSS MiB |\n|---|---|---|---|---|---|---|\n")
	for _, name := range order {
		if strings.HasSuffix(name, "-bytes") {
			continue
		}
		p := peers[name]
		r1, r2 := "", ""
		if p[0] != "" {
			r1 = ratio(name, p[0]) + " " + p[0]
		}
		if p[1] != "" {
			r2 = ratio(name, p[1]) + " " + p[1]
		}
		out := ""
		switch name {
		case "retire-archive":
			out = fmt.Sprintf("%.0f", med("archive-bytes"))
		case "dump-zstd":
			out = fmt.Sprintf("%.0f", med("dump-bytes"))
		case "mydumper":
			out = fmt.Sprintf("%.0f", med("mydumper-bytes"))
		}
		mbs := "-"
		if med(name) > 0 {
			mbs = fmt.Sprintf("%.1f", source/1e6/med(name))
		}
		fmt.Printf("| %s | %.2f | %s | %s | %s | %s | %.0f |\n", name, med(name), r1, r2, mbs, out, rss[name]/1024)
	}
}
