#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause
"""Summarises bench/forward.sh's runs: forwarding cost per delivered packet
(busy CPU ns per delivered packet minus the generator's own ns per packet of
the same point), delivered Mpps and loss, median/min/max over the repeats, and
each configuration's ratio to nft_dnat at the same point. Writes forward.md,
forward.csv and, with gnuplot, forward.png."""
import csv, os, platform, statistics, subprocess, sys, time

runs_path, out_dir, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
configs = ["nft_dnat", "nft_stateless", "xdpfwd_off", "xdpfwd_on"]
runs = list(csv.DictReader(open(runs_path)))
points = list(dict.fromkeys(r["point"] for r in runs))


def of(point, config):
    return [r for r in runs if r["point"] == point and r["config"] == config]


rows = []
for p in points:
    base = [int(r["busy_ns"]) / int(r["generated"]) for r in of(p, "baseline") if int(r["generated"])]
    base_ns = statistics.median(base) if base else 0.0
    per = {}
    for c in configs:
        rs = [r for r in of(p, c) if int(r["delivered"])]
        if not rs:
            continue
        cost = [int(r["busy_ns"]) / int(r["delivered"]) - base_ns for r in rs]
        mpps = [int(r["delivered"]) / seconds / 1e6 for r in rs]
        # Stray packets (neighbour discovery) can make delivered exceed sent.
        loss = [max(0.0, 1 - int(r["delivered"]) / int(r["generated"])) for r in rs]
        per[c] = dict(cost=statistics.median(cost), lo=min(cost), hi=max(cost),
                      mpps=statistics.median(mpps), loss=statistics.median(loss),
                      ct=max(int(r["conntrack"]) for r in rs),
                      ctd=statistics.median(int(r["conntrack_drops"]) for r in rs), n=len(rs))
    for c, v in per.items():
        ref = per.get("nft_dnat", {}).get("cost")
        v["ratio"] = v["cost"] / ref if ref else float("nan")
        rows.append(dict(point=p, config=c, base=base_ns, **v))

cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
header = (f"{time.strftime('%Y-%m-%d', time.gmtime())}, kernel {platform.release()}, {cpu}, "
          f"{os.cpu_count()} CPUs; {seconds:g} s per run, {max(r['n'] for r in rows)} runs per point "
          f"and configuration; median (min-max).")
with open(os.path.join(out_dir, "forward.csv"), "w") as f:
    w = csv.writer(f)
    w.writerow(["point", "config", "fwd_ns_median", "fwd_ns_min", "fwd_ns_max", "mpps", "loss",
                "ratio_to_nft_dnat", "generator_ns", "conntrack_max", "conntrack_drops"])
    for r in rows:
        w.writerow([r["point"], r["config"], f"{r['cost']:.1f}", f"{r['lo']:.1f}", f"{r['hi']:.1f}",
                    f"{r['mpps']:.3f}", f"{r['loss']:.4f}", f"{r['ratio']:.3f}", f"{r['base']:.1f}", r["ct"], r["ctd"]])
with open(os.path.join(out_dir, "forward.md"), "w") as f:
    f.write("# Forwarding cost: xdpfwd and nftables, same traffic, same run\n\n")
    f.write(header + " Made by `bench/forward.sh` (method in its header).\n\n")
    f.write("Point = target device / mappings / concurrent flows / frame size. Cost = CPU ns per "
            "delivered packet, the generator's own cost subtracted (its ns/packet shown per point). "
            "Ratio = cost / cost of nft_dnat at the same point. Delivered Mpps: what reached the sink per "
            "second of the run, on the one core that also generates. Conntrack drops: packets conntrack "
            "dropped plus entries it evicted early to make room (`conntrack -S`), median per run.\n\n")
    f.write("| point | generator ns | config | cost ns (min-max) | delivered Mpps | loss | ratio "
            "| nf_conntrack_count | conntrack drops |\n")
    f.write("|---|---:|---|---:|---:|---:|---:|---:|---:|\n")
    for r in rows:
        f.write(f"| {r['point']} | {r['base']:.0f} | {r['config']} | {r['cost']:.0f} ({r['lo']:.0f}-{r['hi']:.0f}) "
                f"| {r['mpps']:.2f} | {100 * r['loss']:.1f}% | {r['ratio']:.2f} | {r['ct']} | {r['ctd']:.0f} |\n")

# gnuplot: two panels, cost and Mpps, one cluster per point.
dat = os.path.join(out_dir, "forward.dat")
with open(dat, "w") as f:
    f.write("# point " + " ".join(f"{c}_ns {c}_mpps" for c in configs) + "\n")
    for p in points:
        vals = {r["config"]: r for r in rows if r["point"] == p}
        f.write(p + " " + " ".join(f"{vals[c]['cost']:.1f} {vals[c]['mpps']:.3f}" if c in vals else "? ?"
                                   for c in configs) + "\n")
plot = f"""
set terminal pngcairo size 1400,900 font ",10" noenhanced
set output "{os.path.join(out_dir, 'forward.png')}"
set multiplot layout 2,1 title "xdpfwd vs nftables ({header.split(';')[0]})"
set style data histogram; set style histogram clustered gap 1; set style fill solid 0.8 border -1
set key top left; set grid ytics; set xtics rotate by -20
set ylabel "forwarding ns / delivered packet"
names = "{' '.join(configs)}"
plot for [i=0:3] "{dat}" using 2+2*i:xtic(1) title word(names, i+1)
set ylabel "delivered Mpps (one core)"
plot for [i=0:3] "{dat}" using 3+2*i:xtic(1) title word(names, i+1)
unset multiplot
"""
try:
    subprocess.run(["gnuplot"], input=plot, text=True, check=True)
except (OSError, subprocess.CalledProcessError) as e:
    print(f"report: no plot ({e})", file=sys.stderr)
os.remove(dat)
print(open(os.path.join(out_dir, "forward.md")).read())
