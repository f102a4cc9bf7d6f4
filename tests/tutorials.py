"""Recurrent models written the way public tutorials write them (their own class and attribute names).

Shared by ``library/test_tutorial_models.py`` (saved and loaded back) and ``library/test_models_live.py``
(traced live through their own forward).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def seeded(build: Callable[[], nn.Module], seed: int = 0) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().eval()


class CharRNN(nn.Module):
    """PyTorch tutorial "NLP From Scratch: Classifying Names with a Character-Level RNN" (nn.RNN + h2o)."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.rnn = nn.RNN(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line_tensor):  # (T, 1, n_letters), one-hot
        _, hidden = self.rnn(line_tensor)
        output = self.h2o(hidden[0])
        return self.softmax(output)


class OldCharRNN(nn.Module):
    """The older version of that tutorial: a hand-made recurrence of nn.Linear layers, no nn.RNN."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int):
        super().__init__()
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(input_size + hidden_size, output_size)


class LSTMTagger(nn.Module):
    """PyTorch tutorial "Sequence Models and Long Short-Term Memory Networks" (word_embeddings + lstm + hidden2tag)."""

    def __init__(self, embedding_dim: int, hidden_dim: int, vocab_size: int, tagset_size: int):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.word_embeddings = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentence):  # (T,) token ids
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        tag_space = self.hidden2tag(lstm_out.view(len(sentence), -1))
        return F.log_softmax(tag_space, dim=1)


class D2LRNNModel(nn.Module):
    """Dive into Deep Learning, "Concise Implementation of Recurrent Neural Networks" (rnn + linear, one-hot input)."""

    def __init__(self, rnn_layer: nn.RNNBase, vocab_size: int):
        super().__init__()
        self.rnn = rnn_layer
        self.vocab_size = vocab_size
        self.num_hiddens = self.rnn.hidden_size
        self.num_directions = 2 if self.rnn.bidirectional else 1
        self.linear = nn.Linear(self.num_hiddens * self.num_directions, self.vocab_size)

    def forward(self, inputs, state):  # inputs (N, T) token ids
        X = F.one_hot(inputs.T.long(), self.vocab_size).to(torch.float32)  # (T, N, V)
        Y, state = self.rnn(X, state)
        output = self.linear(Y.reshape((-1, Y.shape[-1])))  # (T*N, V)
        return output, state

    def begin_state(self, batch_size: int = 1):
        shape = (self.num_directions * self.rnn.num_layers, batch_size, self.num_hiddens)
        if isinstance(self.rnn, nn.LSTM):
            return torch.zeros(shape), torch.zeros(shape)
        return torch.zeros(shape)


class SentimentGRU(nn.Module):
    """The common embedding -> bidirectional GRU -> fc classifier (e.g. bentrevett's sentiment tutorials)."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden_dim: int, output_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = nn.GRU(embed_dim, hidden_dim, num_layers=2, bidirectional=True, batch_first=True, dropout=0.2)
        self.dropout = nn.Dropout(0.5)
        self.fc = nn.Linear(hidden_dim * 2, output_dim)

    def forward(self, text):  # (N, T) token ids
        embedded = self.dropout(self.embedding(text))
        _, hidden = self.rnn(embedded)
        hidden = self.dropout(torch.cat((hidden[-2], hidden[-1]), dim=1))  # last layer, both directions
        return self.fc(hidden)


class WordLanguageModel(nn.Module):
    """pytorch/examples word_language_model: encoder (an nn.Embedding) + LSTM + decoder (an nn.Linear)."""

    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int):
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=0.2)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, input, hidden):  # (T, N) token ids
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden


class SineRNN(nn.Module):
    """The course's sine predictor: a relu nn.RNN and a linear read-out."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(1, 16, nonlinearity="relu", batch_first=True)
        self.fc = nn.Linear(16, 1)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out)


class Stacked(nn.Module):
    """Two recurrent modules one after the other, then a head."""

    def __init__(self, hidden1: int = 8, hidden2: int = 6):
        super().__init__()
        self.rnn1 = nn.LSTM(3, hidden1, batch_first=True)
        self.rnn2 = nn.GRU(hidden1, hidden2, batch_first=True)
        self.fc = nn.Linear(hidden2, 2)

    def forward(self, x):
        y, _ = self.rnn1(x)
        y, _ = self.rnn2(y)
        return self.fc(y)


class TakeOutput(nn.Module):
    """What nn.Sequential users put after a recurrent layer: keep ``output``, drop ``h_n``."""

    def forward(self, pair):
        return pair[0]


class LitModel(nn.Module):
    """A LightningModule's weights: the network held as ``self.model``."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.model = net


class EncoderRNN(nn.Module):
    """PyTorch tutorial "NLP From Scratch: Translation with a Sequence to Sequence Network": the encoder alone."""

    def __init__(self, input_size: int, hidden_size: int, dropout_p: float = 0.1):
        super().__init__()
        self.hidden_size = hidden_size
        self.embedding = nn.Embedding(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, input):  # (N, T) token ids
        embedded = self.dropout(self.embedding(input))
        output, hidden = self.gru(embedded)
        return output, hidden


class BiLSTMTagger(nn.Module):
    """The usual BiLSTM sequence tagger (NER / POS tutorials): embedding + bidirectional LSTM + hidden2tag per token."""

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_dim: int, tagset_size: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim // 2, num_layers=1, bidirectional=True, batch_first=True)
        self.hidden2tag = nn.Linear(hidden_dim, tagset_size)

    def forward(self, sentences):  # (N, T) token ids
        lstm_out, _ = self.lstm(self.embedding(sentences))
        return self.hidden2tag(lstm_out)  # (N, T, tags)
