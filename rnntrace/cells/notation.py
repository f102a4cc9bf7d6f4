r"""How the page writes a cell's sums: torch's row form or the lecture's column form, decided here once.

torch (its docs, its code, this package's default) writes a step with x_t as a row of the batch
and two biases::

    h_t = tanh(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)

a lecture writes it with x_t as a column and one bias::

    h_t = tanh(W_x x_t + W_h h_{t-1} + b)

Same numbers: ``W_x = W_ih``, ``W_h = W_hh``, ``b = b_ih + b_hh`` (x_t W_ihᵀ is (W_ih x_t)ᵀ). A gated
cell has one such sum per gate: ``W_{xf}`` is torch's ``W_if`` (the f rows of ``W_ih``), ``b_f = b_if + b_hf``.

The replay records torch's two terms, ``input_term = x_t W_ihᵀ + b_ih`` and ``hidden_term = h_{t-1}
W_hhᵀ + b_hh``, each with its own bias. In the lecture's form those vectors are ``W_x x_t + b_x`` and
``W_h h_{t-1} + b_h`` with ``b_x = b_ih``, ``b_h = b_hh`` and ``b = b_x + b_h``: a number printed under
a term always includes that term's bias, and its label says so.

The GRU's candidate keeps two biases in both forms: torch computes ``r_t ⊙ (W_hn h_{t-1} + b_hn)``,
so r_t scales b_hn as well, and b_in + b_hn is not one bias b_n that could be moved out.

The backward pass follows the same rule: a gradient is a row in torch's form (``δ_{t+1} W_hh``,
``Σ_t δ_tᵀ h_{t-1}``) and a column in the lecture's (``W_hᵀ δ_{t+1}``, ``Σ_t δ_t h_{t-1}ᵀ``), the same entries.

A ``Notation`` is data (which letters, row or column, one bias or two); its methods only format
it. The cells' equations, the picture's labels and hovers and the dashboard all read these two,
``TORCH`` and ``TEXTBOOK``; nothing else decides how a sum is written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Notation:
    """One way to write the cells' sums.

    Attributes:
        key: its name in ``NOTATIONS`` and in the page's link (``?notation=textbook``).
        title: the form in LaTeX, for a control beside its key (``W_x x_t + W_h h_{t-1} + b``).
        x: the input weight's first index: ``"i"`` (W_ih, W_if) or ``"x"`` (W_x, W_xf).
        plain: the plain RNN's block letter after that index: ``"h"`` (W_ih, W_hh) or ``""`` (W_x, W_h).
        column: vectors are columns, a product is ``W v`` (the lecture); else rows, ``v Wᵀ`` (torch).
        one_bias: the equations in symbols sum a gate's two biases into one (``b_f``; the lecture).
        shapes: the Shapes table's names for torch's tensors (``weight_ih``, ``weight_hh``, ``bias_ih``,
            ``bias_hh``, the head's ``weight`` and ``bias``): beside torch's row form the lesson's row-form
            names (``x_t W_xh``, so ``W_xh = W_ihᵀ``); beside the lecture's column form its own (``W_x = W_ih``).
        shapes_note: one sentence above that table saying how the two sets of names relate.
    """

    key: str
    title: str
    x: str
    plain: str
    column: bool
    one_bias: bool
    shapes: dict[str, str]
    shapes_note: str

    # -- names ---------------------------------------------------------------------------

    def _name(self, base: str, index: str, tex: bool) -> str:
        if not index:
            return base
        return f"{base}_{{{index}}}" if tex else f"{base}_{index}"

    def _index(self, side: str, gate: str | None) -> str:
        """``side`` "x" (the input) or "h" (the state); ``gate`` a gate's letter, None for the plain RNN's one block."""
        first = self.x if side == "x" else "h"
        return first + (self.plain if gate is None else gate)

    def weight(self, side: str, gate: str | None = None, tex: bool = True) -> str:
        """The weight of one side of a block: ``W_{ih}`` / ``W_{x}``; ``W_{if}`` / ``W_{xf}``."""
        return self._name("W", self._index(side, gate), tex)

    def bias(self, side: str, gate: str | None = None, tex: bool = True) -> str:
        """The bias that comes with that weight: ``b_{ih}`` / ``b_{x}``; ``b_{hf}`` / ``b_{hf}``."""
        return self._name("b", self._index(side, gate), tex)

    def product(self, W: str, v: str, tex: bool = True) -> str:
        """A weight applied to a vector: ``W v`` in columns, ``v Wᵀ`` in rows."""
        if self.column:
            return f"{W} {v}"
        return f"{v} {W}" + (r"^\top" if tex else "ᵀ")

    def term(self, side: str, gate: str | None = None, tex: bool = True, state: str = "h_{t-1}") -> str:
        """One of the two vectors a block adds, bias included: ``x_t W_{ih}^\\top + b_{ih}`` / ``W_{x} x_t + b_{x}``.

        ``state``: how the previous state is written (``h_prev`` in a hover, ``h_{t+1}`` in reverse).
        """
        v = "x_t" if side == "x" else state
        return f"{self.product(self.weight(side, gate, tex), v, tex)} + {self.bias(side, gate, tex)}"

    # -- equations in symbols (LaTeX) --------------------------------------------------------

    def pre(self, gate: str | None = None, scaled_by: str | None = None) -> str:
        r"""A block's pre-activation in symbols; ``scaled_by`` (the GRU's r_t) multiplies the state's term, its bias included."""
        if scaled_by is not None:  # torch keeps b_hn inside r_t ⊙ (...): two biases in either form
            return rf"{self.term('x', gate)} + {scaled_by} \odot \left({self.term('h', gate)}\right)"
        if not self.one_bias:
            return f"{self.term('x', gate)} + {self.term('h', gate)}"
        x = self.product(self.weight("x", gate), "x_t")
        h = self.product(self.weight("h", gate), "h_{t-1}")
        return f"{x} + {h} + {self._name('b', gate or '', True)}"

    def head(self, tex: bool = True) -> str:
        """The linear head's output: ``h_t W_oᵀ + b_o`` / ``W_o h_t + b_o``."""
        return f"{self.product('W_o', 'h_t', tex)} + b_o"

    def projection(self, tex: bool = True) -> str:
        """An LSTM's projected state: ``(o_t ⊙ tanh(c_t)) W_hrᵀ`` / ``W_hr (o_t ⊙ tanh(c_t))``."""
        if tex:
            return self.product("W_{hr}", r"\left(o_t \odot \tanh(c_t)\right)")
        return self.product("W_hr", "(o_t ⊙ tanh(c_t))", tex=False)

    # -- the backward pass: a gradient is a row in torch's form, a column in the lecture's ----------

    def back(self, W: str, delta: str, sep: str = " ") -> str:
        r"""A gradient sent back through ``W`` (the transpose of ``product``): ``δ W`` in rows, ``W^\top δ`` in columns.

        ``sep``: what separates δ from W in rows (``\,`` after a fraction)."""
        return rf"{W}^\top {delta}" if self.column else f"{delta}{sep}{W}"

    def outer(self, delta: str, v: str) -> str:
        r"""A weight's gradient from one step: ``δ^\top v`` in rows (the batch's rows summed), ``δ v^\top`` in columns."""
        return rf"{delta} {v}^\top" if self.column else rf"{delta}^\top {v}"

    def through(self, side: str, blocks: tuple[tuple[str | None, str | None], ...], at: str) -> str:
        r"""What a step's δ's send back through the ``side`` weight (``"h"``: to h_{at-1}; ``"x"``: to x_at).

        ``blocks``: (gate, the gate that scales its term) in torch's stacking order; ``((None, None),)`` for the plain
        RNN's one block. Rows: torch's stacked row ``[δ^r \mid δ^z \mid δ^n ⊙ r]_{at} W_{hh}``; columns: one term per
        gate, ``W_{hr}^\top δ^r_{at} + W_{hz}^\top δ^z_{at} + W_{hn}^\top (δ^n_{at} ⊙ r_{at})``.
        """
        if blocks == ((None, None),):
            return self.back(self.weight(side), rf"\delta_{{{at}}}")
        if not self.column:
            row = r" \mid ".join(rf"\delta^{{{g}}}" + (rf" \odot {by[0]}" if by else "") for g, by in blocks)
            return self.back(self.weight(side), f"[{row}]_{{{at}}}")
        terms = []
        for g, by in blocks:
            delta = rf"\delta^{{{g}}}_{{{at}}}"
            terms.append(self.back(self.weight(side, g), delta if not by else rf"({delta} \odot {by[0]}_{{{at}}})"))
        return " + ".join(terms)

    def param_grads(self, blocks: tuple[tuple[str | None, str | None], ...], state: str = "h_{t-1}") -> str:
        r"""The state weight's, the input weight's and x_t's gradients from the δ's, in symbols, W's summed over t: one
        line for the plain RNN, two for a gated cell (the state weight's, then the input's: one line would not fit 1280 px).

        Rows (torch): ``∂L/∂W_{hh} = Σ_t δ_t^\top h_{t-1}``, ``∂L/∂x_t = δ_t W_{ih}`` (a gated cell's δ_t the stacked row
        ``[δ^i \mid δ^f \mid δ^g \mid δ^o]_t``, the batch's rows summed by the product); columns (the lecture):
        ``∂L/∂W_h = Σ_t δ_t h_{t-1}^\top``, ``∂L/∂x_t = W_x^\top δ_t``, a gated cell's per gate k. A gate whose state
        term another scales (the GRU's n, by r_t) sends ``δ^n ⊙ r_t`` to its state weight, plain δ^n to its input weight.
        ``state``: how the previous state is written (``h_{t+1}`` in reverse).
        """
        plain = blocks == ((None, None),)
        if plain:
            dx = dh = r"\delta_t"
            Wx, Wh = self.weight("x"), self.weight("h")
        elif not self.column:
            dx = "[" + r" \mid ".join(rf"\delta^{{{g}}}" for g, _ in blocks) + "]_t"
            dh = "[" + r" \mid ".join(rf"\delta^{{{g}}}" + (rf" \odot {by[0]}" if by else "") for g, by in blocks) + "]_t"
            Wx, Wh = self.weight("x"), self.weight("h")
        else:
            dx = dh = r"\delta^k_t"
            Wx, Wh = self.weight("x", "k"), self.weight("h", "k")
        state_w = [rf"\frac{{\partial L}}{{\partial {Wh}}} = \sum_t {self.outer(dh, state)}"]
        if self.column and not plain:  # the lecture's per-gate names; a scaled gate's state weight sees δ ⊙ its scale
            state_w += [
                rf"\text{{but }} \frac{{\partial L}}{{\partial {self.weight('h', g)}}} = \sum_t "
                + self.outer(rf"(\delta^{{{g}}}_t \odot {by[0]}_t)", state)
                for g, by in blocks
                if by
            ]
        input_w = [
            rf"\frac{{\partial L}}{{\partial {Wx}}} = \sum_t {self.outer(dx, 'x_t')}",
            rf"\frac{{\partial L}}{{\partial x_t}} = {self.through('x', tuple((g, None) for g, _ in blocks), 't')}",
        ]
        if plain:  # one short line
            return r" \qquad ".join(state_w + input_w)
        return r"\begin{gathered}" + r" \qquad ".join(state_w) + r" \\ " + r" \qquad ".join(input_w) + r"\end{gathered}"

    def _pairs(self, gated: bool, tex: bool) -> list[tuple[str, str]]:
        """(this notation's symbol, torch's tensor) for one block (every gate k of a gated cell), the same ones left out."""
        g = "k" if gated else None
        pairs = [
            (self.weight("x", g, tex), TORCH.weight("x", g, tex)),
            (self.weight("h", g, tex), TORCH.weight("h", g, tex)),
            (self.bias("x", g, tex), TORCH.bias("x", g, tex)),
            (self.bias("h", g, tex), TORCH.bias("h", g, tex)),
            (self._name("b", g or "", tex), f"{self.bias('x', g, tex)} + {self.bias('h', g, tex)}"),
        ]
        return [(a, b) for a, b in pairs if a != b]

    def code_comment(self, gates: tuple[str, ...] = (), scaled: dict[str, str] | None = None) -> str:
        """Comment lines for a script written in torch's API: this notation's symbols beside torch's ('' in torch's own).

        The code stays torch's (rows, ``x_t @ W_ih.T + b_ih``); the comment says which tensor each of the lecture's
        symbols is and that each row of the batch is the lecture's column transposed. Same arguments as ``bridge``.
        """
        if not self.column:
            return ""
        g = "k" if gates else None
        x, h = self.product(self.weight("x", g, False), "x_t", False), self.product(self.weight("h", g, False), "h_{t-1}", False)
        per = f"for each gate k in ({', '.join(gates)}), its rows of W_ih, W_hh, b_ih, b_hh: " if gates else ""
        lines = [
            f"# The lecture writes {x} + {h} + {self._name('b', g or '', False)} with x_t a column; torch's tensors:",
            f"#   {per}" + ", ".join(f"{a} = {b}" for a, b in self._pairs(bool(gates), tex=False)),
            f"# The code keeps torch's rows: x_t @ W_ih.T + b_ih (a row per sample) is ({self.term('x', g, tex=False)})ᵀ, same numbers.",
        ]
        lines += [
            f"# No b_{gate}: {by} scales {self.term('h', gate, tex=False)}, its bias too (torch's b_h{gate} inside {by} * (...))."
            for gate, by in (scaled or {}).items()
        ]
        return "\n".join(lines) + "\n"

    def bridge(self, gates: tuple[str, ...] = (), scaled: dict[str, str] | None = None) -> str:
        r"""A line (LaTeX) saying which of torch's tensors each symbol of this notation is ('' for torch's own notation).

        A gated cell's is a short block: the gates, the names for every gate k, the GRU's note on b_hn.

        ``gates``: the cell's gate letters in torch's stacking order (empty: the plain RNN, one block);
        ``scaled``: gate -> the gate that scales its state term (the GRU's n -> r_t): its two biases stay apart.
        """
        if not self.column:
            return ""
        pairs_tex = r",\ ".join(f"{a} = {b}" for a, b in self._pairs(bool(gates), tex=True))
        if not gates:
            return r"\text{torch's tensors: }" + pairs_tex
        rows = r"\text{ (its rows of } W_{ih}, W_{hh}, b_{ih}, b_{hh}\text{):}"
        head = rf"\text{{torch's tensors, for each gate }} k \in \{{{', '.join(gates)}\}}{rows}"
        notes = [
            rf"\text{{no }} b_{{{gate}}}\text{{: }} {by} \text{{ scales }} {self.term('h', gate)}\text{{, its bias too}}"
            for gate, by in (scaled or {}).items()
        ]
        return r"\begin{gathered}" + r" \\ ".join([head, pairs_tex, *notes]) + r"\end{gathered}"


TORCH = Notation(
    "torch",
    r"x_t W_{ih}^\top + b_{ih} + \dots",
    x="i",
    plain="h",
    column=False,
    one_bias=False,
    shapes={"weight_ih": "W_xhᵀ", "weight_hh": "W_hhᵀ", "bias_ih": "b_xh", "bias_hh": "b_hh", "weight": "W_hyᵀ", "bias": "b_y"},
    shapes_note="Torch stores `W_ih` as (G·M, D) and computes `x_t W_ihᵀ + b_ih`; textbooks that keep x_t a row write "
    "x_t W_xh, so W_xh = W_ihᵀ.",
)
TEXTBOOK = Notation(
    "textbook",
    r"W_x x_t + W_h h_{t-1} + b",
    x="x",
    plain="",
    column=True,
    one_bias=True,
    shapes={"weight_ih": "W_x", "weight_hh": "W_h", "bias_ih": "b_x", "bias_hh": "b_h", "weight": "W_o", "bias": "b_o"},
    shapes_note="Torch stores `W_ih` as (G·M, D) and computes `x_t W_ihᵀ + b_ih`; the lecture's W_x is W_ih itself, applied "
    "to x_t as a column (W_x x_t is (x_t W_ihᵀ)ᵀ), with a gated cell's gates stacked in its rows; b = b_x + b_h.",
)
NOTATIONS: dict[str, Notation] = {n.key: n for n in (TORCH, TEXTBOOK)}


def notation_for(notation: str | Notation) -> Notation:
    """``"torch"`` / ``"textbook"`` (or a ``Notation``) -> the ``Notation``; a ``ValueError`` naming the choices."""
    if isinstance(notation, Notation):
        return notation
    if isinstance(notation, str) and notation in NOTATIONS:
        return NOTATIONS[notation]
    raise ValueError(f"notation={notation!r} is not one of {', '.join(map(repr, NOTATIONS))}; torch's is the default.")
