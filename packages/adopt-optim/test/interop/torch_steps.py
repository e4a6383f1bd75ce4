"""Loads a state exported by adopt-optim (exportState, torch layout) into PyTorch and takes the next steps.

usage: torch_steps.py STATE.safetensors GRADS.safetensors OUT.safetensors [--bug]

Adam, AdamW and AMSGrad run as torch.optim.Adam / AdamW themselves (their state loaded with
load_state_dict); ADOPT is written below from the spec (shared/ALGORITHM.md), in float32 tensors.
--bug normalises ADOPT by the updated v, a known porting bug: the test shows the comparison catches it.
OUT holds the parameters after each step (step.K.NAME) and the final state in the same state-dict shape
(its metadata), for importState. Reads and writes safetensors with the standard library and torch only
(the safetensors package is not in Debian).
"""
import json
import struct
import sys

import torch

KEY = "adopt_optim_state_dict"


def load(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        assert e["dtype"] == "F32", e["dtype"]
        out[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32).reshape(e["shape"]).clone()
    return out, meta


def save(path, tensors, meta):
    header, blobs, offset = {"__metadata__": meta}, [], 0
    for name, t in tensors.items():
        b = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def adopt_step(p, g, st, group, bug):
    """One ADOPT step from the spec (t = steps done so far, 0 on the first call)."""
    lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
    if group["maximize"]:
        g = -g
    if wd != 0 and not group["decoupled"]:
        g = g + wd * p
    t = st["step"]
    if t == 0:
        st["exp_avg_sq"] = g * g
        st["exp_avg"] = torch.zeros_like(p)
        st["step"] = 1
        return
    if wd != 0 and group["decoupled"]:
        p.mul_(1 - lr * wd)
    v = st["exp_avg_sq"]
    if bug:
        v = b2 * v + (1 - b2) * g * g
    n = g / torch.clamp(v.sqrt(), min=eps)
    if group.get("clip_exponent") is not None:
        c = float(t) ** group["clip_exponent"]
        n = n.clamp(-c, c)
    st["exp_avg"] = b1 * st["exp_avg"] + (1 - b1) * n
    p.sub_(lr * st["exp_avg"])
    st["exp_avg_sq"] = b2 * st["exp_avg_sq"] + (1 - b2) * g * g
    st["step"] = t + 1


def main():
    state_path, grads_path, out_path = sys.argv[1:4]
    bug = "--bug" in sys.argv
    tensors, meta = load(state_path)
    sd = json.loads(meta[KEY])
    group = sd["param_groups"][0]
    names = group["param_names"]
    params = [tensors[n].clone() for n in names]
    grads, _ = load(grads_path)
    steps = len({k.split(".")[1] for k in grads})
    out = {}
    cls = sd["optimizer"]
    if cls == "adopt-optim/ADOPT":
        states = {}
        for i in range(len(params)):
            s = sd["state"].get(str(i))
            states[i] = {"step": 0} if s is None else {"step": s["step"], "exp_avg": tensors[s["exp_avg"]], "exp_avg_sq": tensors[s["exp_avg_sq"]]}
        for k in range(steps):
            for i, p in enumerate(params):
                adopt_step(p, grads[f"grad.{k}.{i}"], states[i], group, bug)
                out[f"step.{k}.{names[i]}"] = p.clone()
        final = {i: s for i, s in states.items()}
    else:
        ps = [torch.nn.Parameter(p) for p in params]
        kw = dict(lr=group["lr"], betas=tuple(group["betas"]), eps=group["eps"], weight_decay=group["weight_decay"], maximize=group["maximize"])
        opt = torch.optim.AdamW(ps, **kw) if group["decoupled"] else torch.optim.Adam(ps, amsgrad=group.get("amsgrad", False), **kw)
        state = {}
        for i, s in sd["state"].items():
            st = {"step": torch.tensor(float(s["step"])), "exp_avg": tensors[s["exp_avg"]], "exp_avg_sq": tensors[s["exp_avg_sq"]]}
            if "max_exp_avg_sq" in s:
                st["max_exp_avg_sq"] = tensors[s["max_exp_avg_sq"]]
            state[int(i)] = st
        opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})
        for k in range(steps):
            for i, p in enumerate(ps):
                p.grad = grads[f"grad.{k}.{i}"].clone()
            opt.step()
            for i, p in enumerate(ps):
                out[f"step.{k}.{names[i]}"] = p.detach().clone()
        params = [p.detach() for p in ps]
        final = {}
        for i, p in enumerate(ps):
            s = opt.state[p]
            final[i] = {k: (int(v.item()) if k == "step" else v) for k, v in s.items()}
    # the final state, in the shape importState reads
    sd_out = dict(sd)
    sd_out["state"] = {}
    for i, s in final.items():
        entry = {"step": int(s["step"])}
        for slot in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
            if slot in s:
                out[f"state.{i}.{slot}"] = s[slot]
                entry[slot] = f"state.{i}.{slot}"
        sd_out["state"][str(i)] = entry
    for i, n in enumerate(names):
        out[n] = params[i]
    save(out_path, out, {KEY: json.dumps(sd_out)})


main()
