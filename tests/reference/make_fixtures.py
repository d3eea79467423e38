#!/usr/bin/env python3
"""Golden parity fixtures for attend's layers and models (STYLE.md rule 6).

Builds attend's architectures from plain torch ops, with attend's tensor names
(docs/model-format.md), for a few tiny configs, runs one padded batch of unequal
lengths forward and backward in float64, and writes one safetensors file per config
into tests/reference/fixtures/:

  <name>                        the weights (f32), exactly the names the model expects
  grad.<name>                   d loss / d weight (f32, computed in float64)
  input.src                     (B,S) i64, right-padded with pad_id 0
  input.tgt_in, input.tgt_out   (B,T) i64 (seq2seq: bos+y and y+eos, right-padded)
  input.labels                  (B) i64 (classifier)
  output.logits                 (B,T,V) seq2seq or (B,C) classifier
  output.loss                   scalar: torch CrossEntropyLoss(label_smoothing=0.1,
                                ignore_index=pad for seq2seq), mean over counted tokens
  __metadata__                  the ModelConfig fields as strings

Run with Debian's python3-torch (CPU):  /usr/bin/python3 tests/reference/make_fixtures.py
CI never runs this script; it only reads the committed fixtures.
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

PAD, UNK, BOS, EOS = 0, 1, 2, 3
OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")

BASE = dict(type="seq2seq", d_model=16, heads=2, ffn_dim=32, encoder_layers=2, decoder_layers=2,
            dropout=0.0, attention_dropout=0.0, activation="relu", norm="post",
            positions="sinusoidal", max_positions=16, tie_embeddings="none",
            src_vocab=20, tgt_vocab=20, num_classes=2, pooling="mean", pad_id=PAD)

CONFIGS = {
    "s2s_post_sinusoidal_tie_all": dict(norm="post", positions="sinusoidal", tie_embeddings="all",
                                        activation="relu"),
    "s2s_pre_learned_untied": dict(norm="pre", positions="learned", tie_embeddings="none",
                                   activation="gelu", tgt_vocab=23),
    "s2s_post_learned_tie_decoder": dict(norm="post", positions="learned", tie_embeddings="decoder",
                                         activation="gelu", tgt_vocab=23),
    "s2s_pre_sinusoidal_tie_all": dict(norm="pre", positions="sinusoidal", tie_embeddings="all",
                                       activation="relu"),
    "cls_post_sinusoidal_mean": dict(type="classifier", norm="post", positions="sinusoidal",
                                     pooling="mean", num_classes=3, decoder_layers=0),
    "cls_pre_learned_first": dict(type="classifier", norm="pre", positions="learned", pooling="first",
                                  activation="gelu", num_classes=2, decoder_layers=0),
}


# --- weights ---------------------------------------------------------------------------
def make_weights(cfg, gen):
    """name -> f32 tensor; every parameter random (biases and norms too, to test their paths)."""
    D, F_, V_src, V_tgt = cfg["d_model"], cfg["ffn_dim"], cfg["src_vocab"], cfg["tgt_vocab"]
    w = {}

    def uni(shape, bound):
        return (torch.rand(shape, generator=gen) * 2 - 1) * bound

    def linear(name, out_f, in_f, bias=True):
        w[name + ".weight"] = uni((out_f, in_f), math.sqrt(6.0 / (in_f + out_f)))
        if bias:
            w[name + ".bias"] = uni((out_f,), 0.1)

    def norm(name):
        w[name + ".weight"] = 1.0 + uni((D,), 0.1)
        w[name + ".bias"] = uni((D,), 0.1)

    def embedding(name, V):
        e = torch.randn((V, D), generator=gen) * D ** -0.5
        e[cfg["pad_id"]] = 0.0
        w[name] = e

    def attention(prefix):
        for p in ("q_proj", "k_proj", "v_proj", "out_proj"):
            linear(prefix + "." + p, D, D)

    def stack(side, layers, cross):
        if cfg["positions"] == "learned":
            w[side + ".embed_positions.weight"] = torch.randn((cfg["max_positions"], D), generator=gen) * D ** -0.5
        for i in range(layers):
            p = "%s.layers.%d" % (side, i)
            attention(p + ".self_attn")
            norm(p + ".self_attn_layer_norm")
            if cross:
                attention(p + ".encoder_attn")
                norm(p + ".encoder_attn_layer_norm")
            linear(p + ".fc1", F_, D)
            linear(p + ".fc2", D, F_)
            norm(p + ".final_layer_norm")
        if cfg["norm"] == "pre":
            norm(side + ".layer_norm")

    embedding("encoder.embed_tokens.weight", V_src)
    stack("encoder", cfg["encoder_layers"], cross=False)
    if cfg["type"] == "seq2seq":
        if cfg["tie_embeddings"] != "all":
            embedding("decoder.embed_tokens.weight", V_tgt)
        stack("decoder", cfg["decoder_layers"], cross=True)
        if cfg["tie_embeddings"] == "none":
            linear("decoder.output_projection", V_tgt, D, bias=False)
    else:
        linear("classifier.dense", D, D)
        linear("classifier.out_proj", cfg["num_classes"], D)
    return w


# --- the architectures, from plain torch ops ------------------------------------------
def sinusoidal(T, D):
    """(T,D): sin on even dims, cos on odd dims (interleaved), first position 0."""
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    i = torch.arange(0, D, 2, dtype=torch.float64)
    angle = pos / torch.pow(10000.0, i / D)
    pe = torch.zeros(T, D, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : D // 2])
    return pe


def lin(p, name, x):
    return F.linear(x, p[name + ".weight"], p.get(name + ".bias"))


def layer_norm(p, name, x):
    return F.layer_norm(x, (x.shape[-1],), p[name + ".weight"], p[name + ".bias"], eps=1e-5)


def attention(p, prefix, cfg, x, kv, key_pad, causal):
    B, T, D = x.shape
    S, H = kv.shape[1], cfg["heads"]
    Dh = D // H
    q = lin(p, prefix + ".q_proj", x).view(B, T, H, Dh).transpose(1, 2)
    k = lin(p, prefix + ".k_proj", kv).view(B, S, H, Dh).transpose(1, 2)
    v = lin(p, prefix + ".v_proj", kv).view(B, S, H, Dh).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) / math.sqrt(Dh)
    if key_pad is not None:
        scores = scores.masked_fill(key_pad[:, None, None, :], float("-inf"))
    if causal:
        future = torch.ones(T, S, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    probs = torch.softmax(scores, dim=-1)
    out = (probs @ v).transpose(1, 2).reshape(B, T, D)
    return lin(p, prefix + ".out_proj", out)


def feed_forward(p, prefix, cfg, x):
    h = lin(p, prefix + ".fc1", x)
    h = F.relu(h) if cfg["activation"] == "relu" else F.gelu(h)  # exact (erf) GELU
    return lin(p, prefix + ".fc2", h)


def sublayer(p, norm_name, cfg, x, f):
    if cfg["norm"] == "post":
        return layer_norm(p, norm_name, x + f(x))
    return x + f(layer_norm(p, norm_name, x))


def embed(p, side, table, cfg, ids):
    D = cfg["d_model"]
    x = F.embedding(ids, p[table], padding_idx=cfg["pad_id"]) * math.sqrt(D)
    T = ids.shape[1]
    if cfg["positions"] == "learned":
        return x + p[side + ".embed_positions.weight"][:T]
    return x + sinusoidal(T, D)


def encoder(p, cfg, src):
    pad = src.eq(cfg["pad_id"])
    x = embed(p, "encoder", "encoder.embed_tokens.weight", cfg, src)
    for i in range(cfg["encoder_layers"]):
        n = "encoder.layers.%d" % i
        x = sublayer(p, n + ".self_attn_layer_norm", cfg, x,
                     lambda h: attention(p, n + ".self_attn", cfg, h, h, pad, False))
        x = sublayer(p, n + ".final_layer_norm", cfg, x, lambda h: feed_forward(p, n, cfg, h))
    if cfg["norm"] == "pre":
        x = layer_norm(p, "encoder.layer_norm", x)
    return x, pad


def decoder(p, cfg, enc, src_pad, tgt_in):
    table = "encoder.embed_tokens.weight" if cfg["tie_embeddings"] == "all" else "decoder.embed_tokens.weight"
    x = embed(p, "decoder", table, cfg, tgt_in)
    for i in range(cfg["decoder_layers"]):
        n = "decoder.layers.%d" % i
        x = sublayer(p, n + ".self_attn_layer_norm", cfg, x,
                     lambda h: attention(p, n + ".self_attn", cfg, h, h, None, True))
        x = sublayer(p, n + ".encoder_attn_layer_norm", cfg, x,
                     lambda h: attention(p, n + ".encoder_attn", cfg, h, enc, src_pad, False))
        x = sublayer(p, n + ".final_layer_norm", cfg, x, lambda h: feed_forward(p, n, cfg, h))
    if cfg["norm"] == "pre":
        x = layer_norm(p, "decoder.layer_norm", x)
    out = "decoder.output_projection.weight" if cfg["tie_embeddings"] == "none" else table
    return F.linear(x, p[out])


def classifier(p, cfg, src):
    x, pad = encoder(p, cfg, src)
    if cfg["pooling"] == "mean":
        keep = (~pad).to(x.dtype)[:, :, None]
        pooled = (x * keep).sum(1) / keep.sum(1)
    else:
        pooled = x[:, 0]
    h = torch.tanh(lin(p, "classifier.dense", pooled))
    return lin(p, "classifier.out_proj", h)


# --- inputs ---------------------------------------------------------------------------
def padded(rows):
    T = max(len(r) for r in rows)
    return torch.tensor([r + [PAD] * (T - len(r)) for r in rows], dtype=torch.int64)


def make_inputs(cfg, gen):
    def sentence(n, V):
        return [int(t) for t in torch.randint(4, V, (n,), generator=gen)]

    src_lens, tgt_lens = [7, 4, 2], [5, 8, 3]  # unequal, longest not first
    src = padded([sentence(n - 1, cfg["src_vocab"]) + [EOS] for n in src_lens])
    if cfg["type"] == "classifier":
        labels = torch.randint(0, cfg["num_classes"], (len(src_lens),), generator=gen)
        return {"input.src": src, "input.labels": labels}
    ys = [sentence(n, cfg["tgt_vocab"]) for n in tgt_lens]
    return {"input.src": src, "input.tgt_in": padded([[BOS] + y for y in ys]),
            "input.tgt_out": padded([y + [EOS] for y in ys])}


# --- safetensors ----------------------------------------------------------------------
def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        dtype = {torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        blob = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def make_fixture(name, overrides, seed):
    cfg = dict(BASE, **overrides)
    gen = torch.Generator().manual_seed(seed)
    weights = make_weights(cfg, gen)
    inputs = make_inputs(cfg, gen)
    p = {k: v.double().requires_grad_(True) for k, v in weights.items()}
    if cfg["type"] == "seq2seq":
        enc, src_pad = encoder(p, cfg, inputs["input.src"])
        logits = decoder(p, cfg, enc, src_pad, inputs["input.tgt_in"])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), inputs["input.tgt_out"].reshape(-1),
                               ignore_index=cfg["pad_id"], label_smoothing=0.1)
    else:
        logits = classifier(p, cfg, inputs["input.src"])
        loss = F.cross_entropy(logits, inputs["input.labels"], label_smoothing=0.1)
    loss.backward()

    out = dict(weights)
    for k, v in p.items():
        out["grad." + k] = v.grad.float()
    out.update(inputs)
    out["output.logits"] = logits.detach().float()
    out["output.loss"] = loss.detach().float().reshape(())
    meta = {k: str(v) for k, v in cfg.items()}
    meta["loss_ignore_index"] = str(cfg["pad_id"] if cfg["type"] == "seq2seq" else -100)
    meta["label_smoothing"] = "0.1"
    path = os.path.join(OUT_DIR, name + ".safetensors")
    write_safetensors(path, out, meta)
    print("%-34s loss %.6f  %d tensors  %d bytes" % (name, loss.item(), len(out), os.path.getsize(path)))


def self_check():
    """The plain-op layers above must equal torch.nn.Transformer{Encoder,Decoder}Layer."""
    torch.manual_seed(0)
    for norm in ("post", "pre"):
        for act in ("relu", "gelu"):
            cfg = dict(BASE, norm=norm, activation=act)
            D, H, F_ = cfg["d_model"], cfg["heads"], cfg["ffn_dim"]
            kw = dict(dim_feedforward=F_, dropout=0.0, activation=act, batch_first=True,
                      norm_first=(norm == "pre"), dtype=torch.float64)
            enc_ref = torch.nn.TransformerEncoderLayer(D, H, **kw).eval()
            dec_ref = torch.nn.TransformerDecoderLayer(D, H, **kw).eval()
            p = {}

            def take_attn(prefix, m):
                for j, n in enumerate(("q_proj", "k_proj", "v_proj")):
                    p[prefix + "." + n + ".weight"] = m.in_proj_weight[j * D:(j + 1) * D]
                    p[prefix + "." + n + ".bias"] = m.in_proj_bias[j * D:(j + 1) * D]
                p[prefix + ".out_proj.weight"] = m.out_proj.weight
                p[prefix + ".out_proj.bias"] = m.out_proj.bias

            def take(prefix, m):
                p[prefix + ".weight"], p[prefix + ".bias"] = m.weight, m.bias

            take_attn("e.self_attn", enc_ref.self_attn)
            take("e.self_attn_layer_norm", enc_ref.norm1)
            take("e.fc1", enc_ref.linear1)
            take("e.fc2", enc_ref.linear2)
            take("e.final_layer_norm", enc_ref.norm2)
            take_attn("d.self_attn", dec_ref.self_attn)
            take_attn("d.encoder_attn", dec_ref.multihead_attn)
            take("d.self_attn_layer_norm", dec_ref.norm1)
            take("d.encoder_attn_layer_norm", dec_ref.norm2)
            take("d.fc1", dec_ref.linear1)
            take("d.fc2", dec_ref.linear2)
            take("d.final_layer_norm", dec_ref.norm3)
            src = torch.randn(2, 5, D, dtype=torch.float64)
            tgt = torch.randn(2, 4, D, dtype=torch.float64)
            pad = torch.tensor([[False] * 5, [False] * 3 + [True] * 2])
            causal = torch.ones(4, 4, dtype=torch.bool).triu(1)
            with torch.no_grad():
                want_e = enc_ref(src, src_key_padding_mask=pad)
                want_d = dec_ref(tgt, src, tgt_mask=causal, memory_key_padding_mask=pad)
                got_e = sublayer(p, "e.self_attn_layer_norm", cfg, src,
                                 lambda h: attention(p, "e.self_attn", cfg, h, h, pad, False))
                got_e = sublayer(p, "e.final_layer_norm", cfg, got_e, lambda h: feed_forward(p, "e", cfg, h))
                got_d = sublayer(p, "d.self_attn_layer_norm", cfg, tgt,
                                 lambda h: attention(p, "d.self_attn", cfg, h, h, None, True))
                got_d = sublayer(p, "d.encoder_attn_layer_norm", cfg, got_d,
                                 lambda h: attention(p, "d.encoder_attn", cfg, h, src, pad, False))
                got_d = sublayer(p, "d.final_layer_norm", cfg, got_d, lambda h: feed_forward(p, "d", cfg, h))
            keep = ~pad[:, :, None]  # nn's fast path may leave padded rows of the encoder undefined
            err_e = ((got_e - want_e).abs() * keep).max().item()
            err_d = (got_d - want_d).abs().max().item()
            assert err_e < 1e-10 and err_d < 1e-10, (norm, act, err_e, err_d)
    print("self-check: plain-op layers match torch.nn.Transformer*Layer (post/pre, relu/gelu)")


def main():
    self_check()
    os.makedirs(OUT_DIR, exist_ok=True)
    for k, (name, overrides) in enumerate(CONFIGS.items()):
        make_fixture(name, overrides, seed=1000 + k)


if __name__ == "__main__":
    main()
