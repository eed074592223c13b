#!/usr/bin/env python3
"""The engine's layering, read from its objects: `layers.py OBJ...`.

Each object's defined symbols (nm --defined-only) and the symbols it uses
(nm --undefined-only) give an arrow from the file that uses a name to the
file that defines it. The check fails on any cycle among the files (a group
of files that reach each other through their arrows), and prints each
file's layer (0: uses no other engine file; otherwise one more than the
highest layer it uses). Static functions are invisible to nm, as they are
to every other file: only what a file exports can make a cycle.

Also fails on a source file beside an object that is longer than
--max-lines, or holding a function longer than --max-fn lines (a function
body is counted from its opening brace in column 0 to its closing one).
"""
import argparse
import os
import subprocess
import sys


def nm(obj, flag):
    out = subprocess.run(["nm", flag, obj], check=True, capture_output=True,
                         text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def sccs(nodes, edges):
    """Tarjan's strongly connected components, iterative."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        work = [(v, iter(sorted(edges[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == node:
                            break
                    out.append(sorted(comp))
            elif nxt not in index:
                index[nxt] = low[nxt] = counter[0]
                counter[0] += 1
                stack.append(nxt)
                on.add(nxt)
                work.append((nxt, iter(sorted(edges[nxt]))))
            elif nxt in on:
                low[node] = min(low[node], index[nxt])

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def functions(path):
    """(name, lines) of each function whose braces sit in column 0."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out, start = [], None
    for i, line in enumerate(lines):
        if line == "{":
            start = i
        elif line == "}" and start is not None:
            head = lines[start - 1] if start else ""
            j = start - 1
            while j > 0 and "(" not in lines[j]:
                j -= 1
            name = lines[j].split("(")[0].split()[-1].lstrip("*") if "(" in lines[j] else head
            out.append((name, i - start - 1))
            start = None
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default="engine", help="where the sources are")
    ap.add_argument("--max-lines", type=int, default=600)
    ap.add_argument("--max-fn", type=int, default=60)
    ap.add_argument("objs", nargs="+")
    a = ap.parse_args()

    name = {o: os.path.splitext(os.path.basename(o))[0] + ".c" for o in a.objs}
    owner, uses = {}, {}
    for o in a.objs:
        for s in nm(o, "--defined-only") - {""}:
            owner.setdefault(s, name[o])
        uses[name[o]] = nm(o, "--undefined-only")
    nodes = set(uses)
    edges = {n: set() for n in nodes}
    why = {}
    for n, syms in uses.items():
        for s in syms:
            d = owner.get(s)
            if d and d != n:
                edges[n].add(d)
                why.setdefault((n, d), []).append(s)

    bad = 0
    for comp in sccs(nodes, edges):
        if len(comp) > 1:
            bad += 1
            print(f"layers: a cycle of {len(comp)} files: {', '.join(comp)}")
            for n in comp:
                for d in sorted(edges[n] & set(comp)):
                    print(f"  {n} -> {d}: {', '.join(sorted(why[(n, d)])[:6])}")
    if not bad:
        layer = {}

        def depth(n):
            if n not in layer:
                layer[n] = 1 + max((depth(d) for d in edges[n]), default=-1)
            return layer[n]

        for n in sorted(nodes, key=lambda n: (-depth(n), n)):
            print(f"layer {layer[n]}: {n} -> {', '.join(sorted(edges[n])) or '-'}")

    for n in sorted(nodes):
        path = os.path.join(a.src, n)
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as f:
            count = f.read().count("\n")
        if count > a.max_lines:
            bad += 1
            print(f"layers: {path} has {count} lines (at most {a.max_lines})")
        for fn, body in functions(path):
            if body > a.max_fn:
                bad += 1
                print(f"layers: {path}: {fn}() has {body} lines (at most {a.max_fn})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
