"""Upload corpora for ``rnntrace.loaders``: bad files (each with the message fragment it must produce)
and good files (each with its oracle). Everything is generated in memory at test time; the
malicious pickles target a marker file inside the caller's ``tmp_path``.

    bad_sequence_files(tmp_path) -> [(name, bytes, expected_fragment)]
    bad_model_files(tmp_path)    -> [(name, bytes, expected_fragment)]
    good_sequence_files()        -> [GoodSequence(name, data, expected)]       expected: (N, T, D) float64
    good_model_files()           -> [GoodModel(name, data, module, head, nonlinearity, part, ignored)]
    marker_path(tmp_path)        -> the file a malicious pickle would create if it ever ran

Fragments are matched case-insensitively against ``str(LoadError)``.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import shlex
import tarfile
import warnings
import zipfile
from pathlib import Path
from typing import NamedTuple

import numpy as np
import safetensors.torch
import torch
from torch import nn

import rnntrace
from rnntrace import loaders as rio


class GoodSequence(NamedTuple):
    name: str
    data: bytes
    expected: np.ndarray  # (N, T, D) float64


class GoodModel(NamedTuple):
    name: str
    data: bytes
    module: nn.RNNBase  # the original: torch's forward on it is the oracle
    head: nn.Linear | None
    nonlinearity: str  # what load_model must be told (weights do not record it)
    part: str | None = None  # the recurrent stack's prefix load_model must report (None: not checked)
    ignored: tuple[str, ...] = ()  # keys (or checkpoint entries) load_model must list as ignored


def marker_path(tmp_path: Path) -> Path:
    return Path(tmp_path) / "PWNED_if_this_exists"


# ---------------------------------------------------------------------------- payloads that must never run


class _System:
    """Unpickling calls os.system(cmd): writes the marker file."""

    def __init__(self, marker: Path):
        self.cmd = f"echo pwned > {shlex.quote(str(marker))}"

    def __reduce__(self):
        return (os.system, (self.cmd,))


class _Open:
    """Unpickling calls open(marker, "w"): creates the marker file."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


class _Exec:
    """Unpickling calls exec(...): creates the marker file."""

    def __init__(self, marker: Path):
        self.code = f"with open({str(marker)!r}, 'w') as f: f.write('pwned')"

    def __reduce__(self):
        return (builtins.exec, (self.code,))


def _torch_bytes(obj, **kwargs) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    return buffer.getvalue()


def _npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _junk(n: int, seed: int, first: bytes = b"") -> bytes:
    return first + np.random.default_rng(seed).integers(0, 256, size=n, dtype=np.uint8).tobytes()


def _zip(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def _with_pickle(torch_zip: bytes, payload: bytes) -> bytes:
    """A torch.save zip with its data.pkl replaced by ``payload`` (members stay uncompressed)."""
    with zipfile.ZipFile(io.BytesIO(torch_zip)) as src:
        members = {info.filename: payload if info.filename.endswith("data.pkl") else src.read(info) for info in src.infolist()}
    return _zip(members)


def _npz_bytes(compressed: bool = False, **arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class _Hparams:
    """A user's own class in a Lightning checkpoint's hyper_parameters: importing it is code, so it is refused."""

    def __init__(self):
        self.hidden = 5


def _npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """A v1.0 .npy header as np.save writes it, with no data after it."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}".encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


# ---------------------------------------------------------------------------- sequences


def bad_sequence_files(tmp_path: Path) -> list[tuple[str, bytes, str]]:
    marker = marker_path(tmp_path)
    good_npy = _npy_bytes(np.arange(12.0).reshape(4, 3))
    evil = pickle.dumps(_System(marker), protocol=2)
    return [
        ("empty.csv", b"", "empty"),
        ("empty.npy", b"", "empty"),
        ("junk.csv", bytes(range(256)) * 4, "not a text file"),
        ("latin1.csv", "température,1\n1,2\n".encode("latin-1"), "not utf-8"),
        ("junk.npy", _junk(300, 1, first=b"J"), "not a .npy file"),
        ("data.txt", b"1,2\n3,4\n", "accepted: .csv, .npy"),
        ("data.xlsx", _zip({"xl/workbook.xml": b"<workbook/>"}), "accepted: .csv, .npy"),
        ("data", b"1,2\n3,4\n", "no extension"),
        ("ragged.csv", b"1,2,3\n4,5\n6,7,8\n", "ragged: line 2 has 2"),
        ("ragged_long.csv", b"a,b\n1,2\n3,4,5\n", "ragged"),
        ("words.csv", b"a,b\n1,2\n3,x\n", "'x' on line 3, column 'b', is not a number"),
        ("empty_cell.csv", b"1,2\n3,\n", "empty cell on line 2, column 2"),
        ("prose.csv", b"Dear reader\nthis is a letter\n", "is not a number"),
        ("header_only.csv", b"a,b,c\n", "no data rows"),
        ("blank.csv", b"\n\n  \n", "no rows"),
        ("empty_first_cell.csv", b"1,,3\n4,5,6\n", "empty cell on line 1, column 2"),
        ("words_after_blank.csv", b"a,b\n\n1,2\n3,4 5\n", "'4 5' on line 4"),
        ("nan.csv", b"1,nan\n2,3\n", "nan or infinite"),
        ("inf.csv", b"1,2\n-inf,3\n", "nan or infinite"),
        ("huge.csv", b"1,2\n3,1e7\n", "magnitude"),
        ("samples_ragged.csv", b"sample,a\n0,1\n0,2\n1,3\n", "different lengths"),
        ("sample_only.csv", b"sample\n0\n0\n", "at least one sample, time step and feature"),
        ("sample_fraction.csv", b"sample,a\n0.5,1\n", "integer sample ids"),
        ("too_many.csv", b"0,0,0,0,0,0,0,0,0,0\n" * 100_001, "at most 1,000,000"),
        ("too_big.csv", b"0\n" * (rio.MAX_SEQUENCE_BYTES // 2 + 1), "too large"),
        ("evil.csv", evil, "text"),
        ("unnamed_column.csv", b",a\n5,1\n7,2\n", "as pandas writes its index"),
        ("four_d.npy", _npy_bytes(np.zeros((1, 2, 3, 4))), "4 dimension(s)"),
        ("object.npy", _npy_bytes(np.array([[1, "a"], [None, 2.0]], dtype=object), allow_pickle=True), "only real numbers"),
        ("evil_object.npy", _npy_bytes(np.array([[_System(marker)]], dtype=object), allow_pickle=True), "only real numbers"),
        ("evil_pickle.npy", evil, "not a .npy file"),
        ("strings.npy", _npy_bytes(np.array([["a", "b"], ["c", "d"]])), "only real numbers"),
        ("complex.npy", _npy_bytes(np.ones((2, 2), dtype=np.complex128)), "only real numbers"),
        ("structured.npy", _npy_bytes(np.zeros((2, 2), dtype=[("a", "<f8"), ("b", "<i4")])), "only real numbers"),
        ("truncated.npy", good_npy[:-10], "truncated"),
        ("trailing.npy", good_npy + b"extra", "longer than its header"),
        ("header_only.npy", good_npy[:128], "truncated"),
        ("claims_huge.npy", _npy_header((100_000, 100_000, 100)), "at most 1,000,000"),
        ("bad_header.npy", b"\x93NUMPY\x01\x00\x10\x00{'descr': oops}\n", "corrupt .npy header"),
        ("archive.npy", _zip({"x.npy": good_npy}), "zip archive"),
        ("empty.npz", b"", "empty"),
        ("junk.npz", _junk(200, 5, first=b"J"), "not an .npz"),
        ("several.npz", _npz_bytes(x=np.zeros((2, 3)), y=np.zeros(4)), "pass key='x'"),
        ("no_arrays.npz", _zip({"readme.txt": b"hello"}), "holds no .npy arrays"),
        ("object.npz", _npz_bytes(x=np.array([[1, "a"]], dtype=object)), "only real numbers"),
        ("evil.npz", _zip({"x.npy": evil}), "corrupt .npy header"),
        ("claims_huge.npz", _zip({"x.npy": _npy_header((100_000, 100_000, 100))}), "at most 1,000,000"),
        ("truncated.npz", _npz_bytes(x=np.arange(12.0))[:-40], "corrupt"),
        ("nan.npy", _npy_bytes(np.array([[1.0, np.nan]])), "nan or infinite"),
        ("inf.npy", _npy_bytes(np.array([[1.0], [np.inf]], dtype=np.float32)), "nan or infinite"),
        ("huge.npy", _npy_bytes(np.array([[1.0, -2e6]])), "magnitude"),
        ("huge_int.npy", _npy_bytes(np.array([[10**12]], dtype=np.int64)), "magnitude"),
        ("t0.npy", _npy_bytes(np.zeros((0, 3))), "at least one sample, time step and feature"),
        ("d0.npy", _npy_bytes(np.zeros((5, 0))), "at least one sample, time step and feature"),
        ("n0.npy", _npy_bytes(np.zeros((0, 5, 3))), "at least one sample, time step and feature"),
    ]


def good_sequence_files() -> list[GoodSequence]:
    rng = np.random.default_rng(7)
    td = rng.standard_normal((6, 3)).astype(np.float32)
    ntd = rng.standard_normal((2, 5, 4))
    ints = rng.integers(-5, 5, size=(3, 4, 2))
    return [
        GoodSequence("plain.csv", b"1,2,3\n4,5,6\n", np.array([[[1, 2, 3], [4, 5, 6]]], dtype=np.float64)),
        GoodSequence("header.csv", b"x1, x2\n1.5,-2\n3e-1,.5\n", np.array([[[1.5, -2], [0.3, 0.5]]])),
        GoodSequence("bom_crlf.csv", "\ufeffa,b\r\n1,2\r\n\r\n3,4\r\n".encode(), np.array([[[1.0, 2], [3, 4]]])),
        GoodSequence("quoted.CSV", b'"1.5","2e-3"\n"-1","+4"\n', np.array([[[1.5, 2e-3], [-1, 4]]])),
        GoodSequence(  # rows of a sample keep their file order; samples are sorted by id
            "samples.csv",
            b"sample,x1,x2\n1,5,6\n0,1,2\n0,3,4\n1,7,8\n",
            np.array([[[1.0, 2], [3, 4]], [[5, 6], [7, 8]]]),
        ),
        GoodSequence("sample_middle.csv", b"x,Sample,y\n1,0,2\n3,2,4\n", np.array([[[1.0, 2]], [[3, 4]]])),
        GoodSequence("td.npy", _npy_bytes(td), td[None].astype(np.float64)),
        GoodSequence("ntd.npy", _npy_bytes(ntd), ntd),
        GoodSequence("ints.npy", _npy_bytes(ints), ints.astype(np.float64)),
        GoodSequence("fortran.npy", _npy_bytes(np.asfortranarray(ntd)), ntd),
        GoodSequence("bigendian.npy", _npy_bytes(ntd.astype(">f8")), ntd),
        GoodSequence("half.npy", _npy_bytes(td.astype(np.float16)), td.astype(np.float16)[None].astype(np.float64)),
        GoodSequence("bool.npy", _npy_bytes(np.eye(3, dtype=bool)), np.eye(3)[None]),
        GoodSequence("one_d.npy", _npy_bytes(np.arange(5.0)), np.arange(5.0)[None, :, None]),  # (T,) -> (1, T, 1)
        GoodSequence("single.npz", _npz_bytes(x=ntd), ntd),
        GoodSequence("compressed.npz", _npz_bytes(compressed=True, inputs=td), td[None].astype(np.float64)),
        GoodSequence("pandas_index.csv", b",a,b\n0,1,2\n1,3,4\n", np.array([[[1.0, 2], [3, 4]]])),  # df.to_csv(path)
        GoodSequence("pandas_numbered.csv", b",0,1\n0,1.5,2\n1,3,4\n", np.array([[[1.5, 2], [3, 4]]])),
        GoodSequence("step_column.csv", b"Step,x\n1,0.5\n2,0.25\n", np.array([[[0.5], [0.25]]])),
        GoodSequence(  # a per-sample time column beside the sample column
            "time_samples.csv",
            b"sample,t,x\n0,0,1\n0,1,2\n1,0,3\n1,1,4\n",
            np.array([[[1.0], [2]], [[3], [4]]]),
        ),
        GoodSequence("index_not_counting.csv", b"index,x\n3,1\n9,2\n", np.array([[[3.0, 1], [9, 2]]])),  # kept: not a counter
        GoodSequence("semicolon.csv", b"a;b\n1.5;2\n3;4\n", np.array([[[1.5, 2], [3, 4]]])),
        GoodSequence("decimal_comma.csv", b"a;b\n1,5;2\n3;-0,25\n", np.array([[[1.5, 2], [3, -0.25]]])),
        GoodSequence("tabs.csv", b"1\t2\n3\t4\n", np.array([[[1.0, 2], [3, 4]]])),
    ]


# ---------------------------------------------------------------------------- models


def _seeded(build, seed: int = 0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().eval()


def _rnn_state(**kwargs) -> dict[str, torch.Tensor]:
    return dict(_seeded(lambda: nn.RNN(3, 5, **kwargs)).state_dict())


def bad_model_files(tmp_path: Path) -> list[tuple[str, bytes, str]]:
    marker = marker_path(tmp_path)
    st = safetensors.torch.save
    rnn = _rnn_state()  # weight_ih_l0 (5, 3), weight_hh_l0 (5, 5), biases (5,)
    gru3 = dict(_seeded(lambda: nn.GRU(3, 4, num_layers=3)).state_dict())
    gru_bi = dict(_seeded(lambda: nn.GRU(3, 4, num_layers=2, bidirectional=True)).state_dict())
    lstm_proj = dict(_seeded(lambda: nn.LSTM(3, 6, proj_size=2)).state_dict())
    good_st, good_pt = st(rnn), _torch_bytes(rnn)
    big = {"weight_ih_l0": torch.zeros(3200, 800), "weight_hh_l0": torch.zeros(3200, 800)}  # an LSTM(800, 800): 5.12M parameters
    bomb = io.BytesIO()
    with (
        zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open("archive/data/0", "w", force_zip64=True) as member,
    ):
        for _ in range(rio.MAX_MODEL_BYTES // 2**20 + 1):
            member.write(bytes(2**20))
    repacked = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good_pt)) as src, zipfile.ZipFile(repacked, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))

    def edit(state: dict, **changes) -> dict:
        state = dict(state)
        for key, value in changes.items():
            if value is None:
                del state[key]
            else:
                state[key] = value
        return state

    refused, not_zip = "refused without running it", "not a zip archive written by torch.save"
    return [
        ("empty.pt", b"", "empty"),
        ("empty.safetensors", b"", "empty"),
        ("junk.pt", _junk(400, 2, first=b"J"), not_zip),
        ("junk.safetensors", _junk(400, 3), "could not be read as .safetensors"),
        ("model.onnx", _junk(100, 4), "accepted: .safetensors, .pt, .pth"),
        ("model.h5", b"\x89HDF\r\n\x1a\n" + bytes(100), "accepted: .safetensors, .pt, .pth"),
        ("model.pkl", pickle.dumps(_System(marker), protocol=2), not_zip),  # read by content: a pickle, refused unread
        ("model", _junk(100, 5, first=b"J"), "has no extension and its first bytes"),
        ("text.pt", b"hello world, this is not a model\n", not_zip),
        ("truncated.safetensors", good_st[: len(good_st) // 2], "could not be read as .safetensors"),
        ("truncated.pt", good_pt[: len(good_pt) // 2], "corrupt or truncated zip"),
        ("not_torch.pt", _zip({"readme.txt": b"hello"}), "could not be read as a pytorch file"),
        ("compressed.pt", repacked.getvalue(), "compressed zip"),
        ("zip_bomb.pt", bomb.getvalue(), "unpacks to more than"),
        ("too_big.pt", bytes(rio.MAX_MODEL_BYTES + 1), "too large"),
        ("too_many_params.safetensors", st(big), "parameters; at most 5,000,000"),
        ("stride0_view.pt", _torch_bytes({"weight_ih_l0": torch.zeros(1).expand(3000, 3000)}), "parameters; at most"),
        ("wrong_keys.safetensors", st({"conv.weight": torch.zeros(4, 3, 3), "conv.bias": torch.zeros(4)}), "'conv.weight'"),
        ("wrong_keys.pt", _torch_bytes({"encoder.layer.0": torch.zeros(2)}), "no nn.rnn / nn.gru / nn.lstm weights"),
        ("lstm_cell.pt", _torch_bytes(dict(_seeded(lambda: nn.LSTMCell(3, 4)).state_dict())), "nn.lstmcell"),
        ("weight_norm.pt", _torch_bytes(_normed("weight_norm")), "torch.nn.utils.remove_weight_norm(model, 'weight_hh_l0')"),
        ("weight_norm_new.safetensors", st(_normed("parametrizations")), "parametrize.remove_parametrizations(model, 'weight_hh_l0')"),
        ("spectral_norm.pth", _torch_bytes(_normed("spectral_norm", prefix="rnn.")), "remove_spectral_norm(model.rnn, 'weight_hh_l0')"),
        ("archive.pth.tar", _tar({"model.pt": good_pt}), "tar archive: extract it"),
        ("raw_pickle.ckpt", pickle.dumps(_System(marker), protocol=2), not_zip),
        ("lightning_hparams.ckpt", _torch_bytes({"state_dict": rnn, "hyper_parameters": _Hparams()}), "torch.save(ckpt['state_dict']"),
        ("model.tar", _tar({"model.pt": good_pt}), "tar archive: extract it"),
        ("empty_dict.safetensors", st({}), "empty state_dict"),
        ("too_many_keys.safetensors", st({f"w{i}": torch.zeros(1) for i in range(600)}), "at most 512"),
        (
            "gates2.safetensors",
            st(edit(rnn, weight_ih_l0=torch.zeros(10, 3), weight_hh_l0=torch.zeros(10, 5))),
            "g = 1 (rnn), 3 (gru) or 4",
        ),
        ("hh_not_square.safetensors", st(edit(rnn, weight_hh_l0=torch.zeros(5, 4))), "do not fit one cell"),
        ("hh_rows.safetensors", st(edit(rnn, weight_hh_l0=torch.zeros(6, 5))), "do not fit one cell"),
        ("vector_weight.safetensors", st(edit(rnn, weight_ih_l0=torch.zeros(15))), "non-empty matrix"),
        ("bias_shape.safetensors", st(edit(rnn, bias_ih_l0=torch.zeros(4))), "bias_ih_l0 has shape (4,)"),
        ("layer1_input.safetensors", st(edit(gru3, weight_ih_l1=torch.zeros(12, 3))), "weight_ih_l1 has shape (12, 3)"),
        ("missing_layer.safetensors", st({k: v for k, v in gru3.items() if "_l1" not in k}), "without gaps"),
        ("far_layer.safetensors", st({**rnn, "weight_ih_l9999": torch.zeros(5, 5)}), "without gaps"),
        ("missing_reverse.safetensors", st(edit(gru_bi, weight_hh_l1_reverse=None)), "both directions"),
        ("half_bias.safetensors", st(edit(rnn, bias_hh_l0=None)), "biases must be present"),
        ("hr_shape.safetensors", st(edit(lstm_proj, weight_hr_l0=torch.zeros(3, 6))), "proj_size p < hidden_size h"),
        (
            "hr_missing.safetensors",
            st(edit(dict(_seeded(lambda: nn.LSTM(3, 6, proj_size=2, num_layers=2)).state_dict()), weight_hr_l1=None)),
            "weight_hr",
        ),
        ("hr_on_gru.safetensors", st({**dict(_seeded(lambda: nn.GRU(3, 6)).state_dict()), "weight_hr_l0": torch.zeros(2, 6)}), "proj_size"),
        ("float16.safetensors", st({k: v.half() for k, v in rnn.items()}), "float16"),
        ("bfloat16.pt", _torch_bytes({k: v.bfloat16() for k, v in rnn.items()}), "bfloat16"),
        ("int64.safetensors", st({k: v.long() for k, v in rnn.items()}), "int64"),
        ("mixed.safetensors", st(edit(rnn, bias_ih_l0=torch.zeros(5, dtype=torch.float64))), "mixes float32 and float64"),
        ("sparse.pt", _torch_bytes(edit(rnn, weight_ih_l0=torch.zeros(5, 3).to_sparse())), "dense"),
        ("nan.safetensors", st(edit(rnn, weight_hh_l0=torch.full((5, 5), float("nan")))), "nan or infinite"),
        ("inf.pt", _torch_bytes(edit(rnn, bias_hh_l0=torch.tensor([0, 0, float("inf"), 0, 0.0]))), "nan or infinite"),
        ("huge_weights.safetensors", st(edit(rnn, weight_ih_l0=torch.full((5, 3), 1e5))), "magnitude"),
        ("tensor.pt", _torch_bytes(torch.zeros(3)), "not a state_dict"),
        ("list.pt", _torch_bytes([rnn]), "not a state_dict"),
        ("checkpoint_no_tensors.pt", _torch_bytes({"state_dict": {"a": 1}, "epoch": 3}), "not a state_dict of tensors"),
        ("int_keys.pt", _torch_bytes({0: torch.zeros(1)}), "not a state_dict of tensors"),
        ("whole_rnn.pt", _torch_bytes(_seeded(lambda: nn.RNN(3, 5))), "torch.save(model.state_dict()"),
        ("whole_simple_rnn.pth", _torch_bytes(rnntrace.SimpleRNN(3, 5, 2)), "rnntrace.model.SimpleRNN"),
        ("legacy_format.pt", _torch_bytes(rnn, _use_new_zipfile_serialization=False), not_zip),
        ("big_pickle.pt", _torch_bytes({"state_dict": rnn, "history": list(range(300_000))}), "pickled structure"),
        ("evil_system_raw.pt", pickle.dumps(_System(marker), protocol=2), not_zip),
        ("evil_open_raw.pth", pickle.dumps(_Open(marker), protocol=2), not_zip),
        ("evil_exec_raw_p5.pt", pickle.dumps(_Exec(marker), protocol=5), not_zip),
        ("evil_exec_legacy.pt", _torch_bytes({"x": _Exec(marker)}, _use_new_zipfile_serialization=False), not_zip),
        # In the zip format torch itself reads the pickle: its weights_only unpickler must refuse the import.
        ("evil_system_zip.pt", _torch_bytes({"weight_ih_l0": _System(marker)}), refused),
        ("evil_open_zip.pt", _torch_bytes(_Open(marker)), refused),
        ("evil_exec_zip_p5.pt", _with_pickle(good_pt, pickle.dumps(_Exec(marker), protocol=5)), refused),
        ("evil_system_zip_p2.pth", _with_pickle(good_pt, pickle.dumps({"weight_ih_l0": _System(marker)}, protocol=2)), refused),
        ("evil.safetensors", pickle.dumps(_System(marker), protocol=2), "a raw pickle (protocol 2)"),  # read by content, not by its name
    ]


def _normed(how: str, prefix: str = "") -> dict[str, torch.Tensor]:
    """The state_dict of an nn.RNN whose weight_hh_l0 is weight- or spectral-normalised, as its author saved it."""
    module = _seeded(lambda: nn.RNN(3, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation notice for the old weight_norm
        if how == "weight_norm":
            nn.utils.weight_norm(module, name="weight_hh_l0")
        elif how == "spectral_norm":
            nn.utils.spectral_norm(module, name="weight_hh_l0")
        else:
            nn.utils.parametrizations.weight_norm(module, name="weight_hh_l0")
    return {prefix + k: v.detach().clone() for k, v in module.state_dict().items()}


def _good_specs() -> list[tuple[str, nn.RNNBase, nn.Linear | None, str]]:
    """(stem, original recurrent module, original head, nonlinearity): every supported layout."""
    simple = rnntrace.SimpleRNN(3, 5, 2, seed=1)
    simple_lstm = rnntrace.SimpleRNN(3, 4, 2, cell="lstm", num_layers=2, bidirectional=True, seed=2)
    simple_gru64 = rnntrace.SimpleRNN(2, 3, 4, cell="gru", dtype=torch.float64, seed=3)
    return [
        ("rnn_tanh", _seeded(lambda: nn.RNN(3, 5, batch_first=True), 10), None, "tanh"),
        ("rnn_relu", _seeded(lambda: nn.RNN(3, 5, nonlinearity="relu", batch_first=True), 11), None, "relu"),
        ("rnn_no_bias", _seeded(lambda: nn.RNN(3, 5, num_layers=2, bias=False), 12), None, "tanh"),  # batch_first=False
        ("gru_bi_2layers", _seeded(lambda: nn.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True), 13), None, "tanh"),
        ("lstm_proj", _seeded(lambda: nn.LSTM(3, 6, num_layers=2, proj_size=2, batch_first=True), 14), None, "tanh"),
        ("lstm_bi", _seeded(lambda: nn.LSTM(2, 4, bidirectional=True, batch_first=True), 15), None, "tanh"),
        ("lstm_bi_proj_no_bias", _seeded(lambda: nn.LSTM(3, 5, proj_size=3, bidirectional=True, bias=False), 16), None, "tanh"),
        ("gru_float64", _seeded(lambda: nn.GRU(3, 5, batch_first=True, dtype=torch.float64), 17), None, "tanh"),
        ("simple_rnn", simple.rnn, simple.fc, "tanh"),
        ("simple_lstm_bi", simple_lstm.rnn, simple_lstm.fc, "tanh"),
        ("simple_gru_float64", simple_gru64.rnn, simple_gru64.fc, "tanh"),
    ]


def _with_prefix(prefix: str, state: dict) -> dict:
    return {prefix + k: v for k, v in state.items()}


def _adam_state(module: nn.Module) -> dict:
    """An optimizer's state_dict after one step, as training scripts put it in their checkpoints."""
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    for p in module.parameters():
        p.grad = torch.ones_like(p)
    with torch.random.fork_rng(devices=[]):
        optimizer.step()  # moves the weights: call after the original's state was copied
    for p in module.parameters():
        p.grad = None
    return optimizer.state_dict()


def good_model_files() -> list[GoodModel]:
    """Every accepted layout, each with the ORIGINAL modules (torch's forward on them is the oracle)."""
    files = []
    for stem, module, head, nonlinearity in _good_specs():
        part = "rnn" if head is not None else ""
        state = _with_prefix("rnn.", module.state_dict()) if head is not None else dict(module.state_dict())
        if head is not None:
            state |= _with_prefix("fc.", head.state_dict())
        files.append(GoodModel(f"{stem}.safetensors", safetensors.torch.save(state), module, head, nonlinearity, part))
        files.append(GoodModel(f"{stem}.pt", _torch_bytes(state), module, head, nonlinearity, part))
    _, module, head, nonlinearity = _good_specs()[-2]  # simple_lstm_bi: checkpoint dicts and other containers
    rnn, fc = dict(module.state_dict()), dict(head.state_dict())
    state = _with_prefix("rnn.", rnn) | _with_prefix("fc.", fc)
    model = nn.ModuleDict({"rnn": module, "fc": head})
    frozen = {k: v.clone() for k, v in model.state_dict().items()}
    adam = _adam_state(_seeded(lambda: nn.ModuleDict({"rnn": nn.LSTM(3, 4, 2, bidirectional=True), "fc": nn.Linear(8, 2)})))
    lightning = {
        "epoch": 4,
        "global_step": 120,
        "pytorch-lightning_version": "2.2.1",
        "state_dict": _with_prefix("model.", frozen),  # a LightningModule that holds the net as self.model
        "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": 4}}}},
        "callbacks": {},
        "optimizer_states": [adam],
        "lr_schedulers": [],
        "hyper_parameters": {"hidden_size": 4, "lr": 1e-3, "cell": "lstm"},
    }
    small = _good_specs()[0][1]  # rnn_tanh: (3 -> 5)
    small_fc = _seeded(lambda: nn.Linear(5, 2), 30)
    rnn_small = _with_prefix("rnn.", small.state_dict())
    simple = rnntrace.SimpleRNN(3, 5, 2, seed=1)
    simple_state = dict(simple.state_dict())
    sequential_gru = _seeded(lambda: nn.GRU(3, 4, batch_first=True), 31)
    sequential_fc = _seeded(lambda: nn.Linear(4, 3), 32)
    files += [
        GoodModel("nested_state_dict.pt", _torch_bytes({"state_dict": state, "epoch": 3}), module, head, nonlinearity, "rnn", ("epoch",)),
        GoodModel(
            "nested_model_state_dict.pth",
            _torch_bytes({"model_state_dict": state, "loss": 0.25, "step": [1, 2]}),
            module,
            head,
            nonlinearity,
            "rnn",
            ("loss", "step"),
        ),
        GoodModel("parameters.PTH", _torch_bytes({k: nn.Parameter(v) for k, v in state.items()}), module, head, nonlinearity, "rnn"),
        # DataParallel / DistributedDataParallel prefix everything with module.; ImageNet-style .pth.tar checkpoint
        GoodModel(
            "dataparallel.pth.tar",
            _torch_bytes({"epoch": 9, "arch": "lstm", "state_dict": _with_prefix("module.", state), "best_acc1": torch.tensor(0.9)}),
            module,
            head,
            nonlinearity,
            "module.rnn",
            ("epoch", "arch", "best_acc1"),
        ),
        GoodModel("lightning.ckpt", _torch_bytes(lightning), module, head, nonlinearity, "model.rnn", ("optimizer_states", "epoch")),
        GoodModel("net.bin", _torch_bytes({"net": state, "opt": adam}), module, head, nonlinearity, "rnn", ("opt",)),
        GoodModel("model_key.pt", _torch_bytes({"model": state, "optimizer": adam}), module, head, nonlinearity, "rnn", ("optimizer",)),
        GoodModel("weights_key.pt", _torch_bytes({"weights": state}), module, head, nonlinearity, "rnn"),
        GoodModel("nested_modules.pt", _torch_bytes({"rnn": rnn, "fc": fc}), module, head, nonlinearity, "rnn"),
        # nn.Sequential numbers its children: 0 is the GRU, 1 the Linear after it
        GoodModel(
            "sequential.safetensors",
            safetensors.torch.save(_with_prefix("0.", sequential_gru.state_dict()) | _with_prefix("1.", sequential_fc.state_dict())),
            sequential_gru,
            sequential_fc,
            "tanh",
            "0",
        ),
        # formerly refused: a prefixed stack without a head, and heads that do not fit (listed as ignored)
        GoodModel("rnn_prefixed_no_head.safetensors", safetensors.torch.save(rnn_small), small, None, "tanh", "rnn"),
        GoodModel(
            "head_bias_only.safetensors",
            safetensors.torch.save(rnn_small | {"fc.bias": torch.zeros(2)}),
            small,
            None,
            "tanh",
            "rnn",
            ("fc.bias",),
        ),
        GoodModel(
            "extra_key.safetensors",
            safetensors.torch.save(simple_state | {"fc2.weight": torch.zeros(2, 2)}),
            simple.rnn,
            simple.fc,
            "tanh",
            "rnn",
            ("fc2.weight",),
        ),
        GoodModel(
            "head_mismatch.safetensors",
            safetensors.torch.save(rnn_small | {"fc.weight": torch.zeros(2, 4), "fc.bias": torch.zeros(2)}),
            small,
            None,
            "tanh",
            "rnn",
            ("fc.weight", "fc.bias"),
        ),
        GoodModel(
            "head_bias_mismatch.safetensors",
            safetensors.torch.save(rnn_small | {"fc.weight": small_fc.weight.detach(), "fc.bias": torch.zeros(3)}),
            small,
            None,
            "tanh",
            "rnn",
            ("fc.weight", "fc.bias"),
        ),
    ]
    return files
