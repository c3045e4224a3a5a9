"""The synthetic sequence-reversal task of Guan et al. (2019), Sec. 4.1 (Fig. 2).

A 2-layer LSTM encoder–decoder with (Luong "general") attention learns to reverse random sequences over
the four words a, b, c, d.  The encoder reads x₁ … x_n <eos>; the decoder is fed <sos> y₁ … y_{n-1}
(teacher forcing) and predicts y_t = x_{n+1−t}.  Its "last hidden layer" at decoder step t is the
attentional state h̃_t = tanh(W_c [c_t; h_t]) (c_t: attention context over the encoder, h_t: the top
decoder LSTM state), from which the output layer predicts y_t.

:func:`reverse_phi` exposes the model to :func:`mi_explain.explain_function` (with any method:
``method=``): the explained input is every fed word — encoder words, <eos>, <sos> and the
decoder inputs — as one sequence of embeddings, and phi returns one state per decoder step (a dict), so
all steps are explained in one batched run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ReverseSeq2Seq", "VOCAB", "evaluate_reverse", "reverse_batch", "reverse_inputs", "reverse_phi",
           "train_reverse"]

VOCAB = ["<pad>", "<sos>", "<eos>", "a", "b", "c", "d"]
PAD, SOS, EOS = 0, 1, 2
LETTERS = 4  # ids 3..6


class ReverseSeq2Seq(nn.Module):
    """Embeddings [V, E] (encoder and decoder), 2-layer LSTM encoder and decoder (hidden H), attention,
    output layer.  ``forward_embeds(enc [B, n+1, E], dec [B, n, E])`` → (logits [B, n, V], h̃ [B, n, H])."""

    def __init__(self, embedding_size: int = 32, hidden_size: int = 64, num_layers: int = 2) -> None:
        super().__init__()
        v = len(VOCAB)
        self.enc_embedding = nn.Embedding(v, embedding_size)
        self.dec_embedding = nn.Embedding(v, embedding_size)
        self.encoder = nn.LSTM(embedding_size, hidden_size, num_layers, batch_first=True)
        self.decoder = nn.LSTM(embedding_size, hidden_size, num_layers, batch_first=True)
        self.attn = nn.Linear(hidden_size, hidden_size, bias=False)
        self.combine = nn.Linear(2 * hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, v)

    def forward_embeds(self, enc: torch.Tensor, dec: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        enc_out, state = self.encoder(enc)  # [B, n+1, H]
        dec_out, _ = self.decoder(dec, state)  # [B, n, H]
        scores = self.attn(dec_out) @ enc_out.transpose(1, 2)  # [B, n, n+1]
        ctx = torch.softmax(scores, -1) @ enc_out
        h = torch.tanh(self.combine(torch.cat([ctx, dec_out], -1)))
        return self.out(h), h

    def forward(self, src: torch.Tensor, dec_in: torch.Tensor) -> torch.Tensor:
        """src [B, n+1] (ending with <eos>), dec_in [B, n] (starting with <sos>) → logits [B, n, V]."""
        return self.forward_embeds(self.enc_embedding(src), self.dec_embedding(dec_in))[0]

    @torch.no_grad()
    def greedy(self, src: torch.Tensor) -> torch.Tensor:
        """Decode len(src) − 1 words feeding back the model's own predictions → [B, n]."""
        n = src.shape[1] - 1
        dec = torch.full((src.shape[0], 1), SOS, dtype=torch.long, device=src.device)
        for _ in range(n):
            nxt = self.forward(src, dec)[:, -1].argmax(-1, keepdim=True)
            dec = torch.cat([dec, nxt], 1)
        return dec[:, 1:]


def reverse_batch(n_seq: int, length: int | tuple[int, int], generator: torch.Generator
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random sequences of one length (an int, or drawn from [lo, hi] per batch):
    src [B, n+1] (x₁…x_n <eos>), dec_in [B, n] (<sos> y₁…y_{n-1}), target [B, n] (y = reversed x)."""
    if isinstance(length, tuple):
        length = int(torch.randint(length[0], length[1] + 1, (1,), generator=generator))
    x = torch.randint(3, 3 + LETTERS, (n_seq, length), generator=generator)
    y = x.flip(1)
    src = torch.cat([x, torch.full((n_seq, 1), EOS)], 1)
    dec_in = torch.cat([torch.full((n_seq, 1), SOS), y[:, :-1]], 1)
    return src, dec_in, y


@dataclass
class ReverseResult:
    model: ReverseSeq2Seq
    token_accuracy: float  # greedy decoding, per output word, on fresh test sequences
    sequence_accuracy: float  # greedy decoding, whole sequence right
    steps: int
    length: int | tuple[int, int]


@torch.no_grad()
def evaluate_reverse(model: ReverseSeq2Seq, length: int, n_test: int = 1000, seed: int = 12345) -> tuple[float, float]:
    """(token accuracy, sequence accuracy) of greedy decoding on ``n_test`` fresh sequences of ``length``."""
    gen = torch.Generator().manual_seed(seed)
    src, _, y = reverse_batch(n_test, length, gen)
    was = model.training
    model.eval()
    pred = model.greedy(src)
    model.train(was)
    right = pred == y
    return float(right.float().mean()), float(right.all(1).float().mean())


def train_reverse(length: int | tuple[int, int] = 10, steps: int = 1500, batch_size: int = 64, lr: float = 3e-3,
                  embedding_size: int = 32, hidden_size: int = 64, seed: int = 0, test_length: int | None = None,
                  log: Callable[[str], None] | None = None) -> ReverseResult:
    """Train the reversal model (Adam, cross-entropy, teacher forcing); test with greedy decoding on fresh
    sequences of ``test_length`` (default: the longest training length)."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed + 1)
    model = ReverseSeq2Seq(embedding_size, hidden_size)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        src, dec_in, y = reverse_batch(batch_size, length, gen)
        loss = F.cross_entropy(model(src, dec_in).reshape(-1, len(VOCAB)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if log is not None and (step + 1) % max(1, steps // 10) == 0:
            log(f"step {step + 1}/{steps}: loss {float(loss.detach()):.4f}")
    model.eval()
    n_test = test_length or (length[1] if isinstance(length, tuple) else length)
    tok, seq = evaluate_reverse(model, n_test)
    return ReverseResult(model, tok, seq, steps, length)


def reverse_inputs(model: ReverseSeq2Seq, src: torch.Tensor, dec_in: torch.Tensor) -> tuple[torch.Tensor, list[str]]:
    """The explained input of one example: x [2n+1, E] (encoder embeddings of x₁…x_n <eos>, then decoder
    embeddings of <sos> y₁…y_{n-1}) and its word labels."""
    src, dec_in = src.reshape(-1), dec_in.reshape(-1)
    with torch.no_grad():
        x = torch.cat([model.enc_embedding(src), model.dec_embedding(dec_in)], 0)
    words = [VOCAB[i] for i in src.tolist()] + [VOCAB[i] for i in dec_in.tolist()]
    return x, words


def reverse_phi(model: ReverseSeq2Seq, n_enc: int) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
    """phi for explain_function: x̃ [B, n_enc + n_dec, E] → {"t=1": h̃₁ [B, H], …} (one state per decoder step)."""

    def phi(xt: torch.Tensor) -> dict[str, torch.Tensor]:
        _, h = model.forward_embeds(xt[:, :n_enc], xt[:, n_enc:])
        return {f"t={t + 1}": h[:, t] for t in range(h.shape[1])}

    return phi
