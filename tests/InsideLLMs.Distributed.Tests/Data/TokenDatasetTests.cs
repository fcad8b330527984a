using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Tokenization;

namespace InsideLLMs.Distributed.Tests.Data;

public sealed class TokenDatasetTests
{
    [Fact]
    public void TrainBatch_SameArguments_SameBatchInAnyOrder()
    {
        var dataset = TestData.SmallSynthetic();
        var forward = Enumerable.Range(0, 5).Select(s => dataset.TrainBatch(seed: 9, step: s, 0, 0, 1, batchSize: 4)).ToList();
        var backward = Enumerable.Range(0, 5).Reverse().Select(s => dataset.TrainBatch(seed: 9, step: s, 0, 0, 1, batchSize: 4)).Reverse().ToList();
        var rebuilt = TestData.SmallSynthetic();
        for (var s = 0; s < 5; s++)
        {
            Assert.Equal(forward[s].Inputs, backward[s].Inputs);
            Assert.Equal(forward[s].Targets, backward[s].Targets);
            Assert.Equal(forward[s].Inputs, rebuilt.TrainBatch(9, s, 0, 0, 1, 4).Inputs);
        }

        Assert.NotEqual(forward[0].Inputs, forward[1].Inputs);
        Assert.NotEqual(forward[0].Inputs, dataset.TrainBatch(seed: 10, step: 0, 0, 0, 1, 4).Inputs);
    }

    [Fact]
    public void TrainBatch_ReplicasAndMicroBatches_SameRowsAsOneProcess()
    {
        var dataset = TestData.SmallSynthetic();
        const int replicas = 3, perReplica = 2, batchSize = 4;
        for (var replica = 0; replica < replicas; replica++)
        {
            for (var micro = 0; micro < perReplica; micro++)
            {
                var distributed = dataset.TrainBatch(5, 17, micro, replica, perReplica, batchSize);
                var single = dataset.TrainBatch(5, 17, (replica * perReplica) + micro, 0, replicas * perReplica, batchSize);
                Assert.Equal(single.Inputs, distributed.Inputs);
                Assert.Equal(single.Targets, distributed.Targets);
            }
        }

        // Row g of a batch of one is row g % B of the batch holding it.
        var big = dataset.TrainBatch(5, 17, 1, 0, 2, batchSize);
        var row = dataset.TrainBatch(5, 17, (1 * batchSize) + 2, 0, 100, 1);
        Assert.Equal(big.Inputs.AsSpan(2 * 64, 64).ToArray(), row.Inputs);
    }

    [Fact]
    public void TrainBatch_Synthetic_EveryRowStartsAtEndOfDocumentAndTargetsShiftByOne()
    {
        var dataset = TestData.SmallSynthetic();
        var batch = dataset.TrainBatch(1, 2, 0, 0, 1, batchSize: 32);
        Assert.Equal(32 * 64, batch.Inputs.Length);
        Assert.Equal(32 * 64, batch.TargetCount);
        for (var b = 0; b < 32; b++)
        {
            Assert.Equal(ModelVocabulary.EndOfDocument, batch.Inputs[b * 64]);
            Assert.Equal(batch.Inputs.AsSpan((b * 64) + 1, 63).ToArray(), batch.Targets.AsSpan(b * 64, 63).ToArray());
        }

        Assert.Equal(201, dataset.TrainTokens.Count(ModelVocabulary.EndOfDocument));
        Assert.InRange(dataset.TrainWindowCount, 150, 199);
    }

    [Fact]
    public void ValidationBatches_Synthetic_CoverEveryDocumentTokenOnceAndMatchFloorCount()
    {
        var dataset = TestData.SmallSynthetic(blockSize: 48, validation: 50);
        var corpus = new SyntheticCorpus(seed: 7);
        var gpt2 = TokenEncodings.Get(TokenEncodings.Gpt2);
        var expected = new List<long>();
        foreach (var i in Enumerable.Range(0, 50))
        {
            expected.AddRange(gpt2.Encode(corpus.ValidationDocument(i).Text).Select(id => (long)dataset.Vocabulary.ToModel(id)));
            expected.Add(ModelVocabulary.EndOfDocument);
        }

        var batches = dataset.ValidationBatches(batchSize: 3).ToList();
        var targets = batches.SelectMany(b => b.Targets).Where(t => t != TokenBatch.IgnoreIndex).ToList();
        Assert.Equal(expected, targets);
        Assert.Equal(expected.Count, dataset.ValidationTargetCount);
        Assert.All(batches, b => Assert.Equal(b.BatchSize * 48, b.Inputs.Length));
        Assert.All(batches.SkipLast(1), b => Assert.Equal(3, b.BatchSize));
        foreach (var batch in batches)
        {
            for (var b = 0; b < batch.BatchSize; b++)
            {
                Assert.Equal(ModelVocabulary.EndOfDocument, batch.Inputs[b * 48]);
            }
        }

        Assert.Equal(batches[0].Targets, dataset.ValidationBatches(batchSize: 3).First().Targets);
        Assert.Equal(2, dataset.ValidationBatches(batchSize: 3, maxBatches: 2).Count());
        Assert.Empty(dataset.ValidationBatches(batchSize: 3, maxBatches: 0));
    }

    [Fact]
    public void EntropyFloor_DefaultCorpus_PositiveFiniteBelowUniformAndCountedOverValidationTokens()
    {
        var dataset = TestData.Synthetic;
        var floor = Assert.NotNull(dataset.EntropyFloor);
        Assert.True(floor > 0 && double.IsFinite(floor));
        Assert.True(floor < Math.Log(dataset.Vocabulary.Count));

        var corpus = new SyntheticCorpus(seed: 1337);
        var gpt2 = TokenEncodings.Get(TokenEncodings.Gpt2);
        var logP = 0.0;
        var tokens = 0L;
        for (var i = 0; i < TokenDataset.DefaultValidationDocuments; i++)
        {
            var document = corpus.ValidationDocument(i);
            logP += document.LogProbability;
            tokens += gpt2.Encode(document.Text).Length + 1;
        }

        Assert.Equal(-logP / tokens, floor, 1e-12);
        Assert.Equal(tokens, dataset.ValidationTargetCount);
        Assert.Equal(tokens, dataset.ValidationBatches(64).Sum(b => (long)b.TargetCount));
        Assert.Equal(TokenDataset.DefaultTrainDocuments + 1, dataset.TrainTokens.Count(ModelVocabulary.EndOfDocument));
        Assert.DoesNotContain(ModelVocabulary.Unknown, dataset.TrainTokens.ToArray());
    }

    [Fact]
    public void Synthetic_VocabularyHoldsEveryLexiconWordAndTheHistory()
    {
        // 20 documents hold about one history document: the history's tokens come from the grammar, not the sample.
        var dataset = TestData.SmallSynthetic(train: 20, validation: 10);
        var gpt2 = TokenEncodings.Get(TokenEncodings.Gpt2);
        var words = SyntheticLexicon.Default.Words.Select(w => w.Word).ToList();
        Assert.All(words, w => Assert.DoesNotContain(ModelVocabulary.Unknown, dataset.Vocabulary.EncodeText(" " + w)));
        var history = new SyntheticCorpus().Grammar.VocabularyTexts.Skip(1).ToList();
        Assert.Equal(6, history.Count);
        Assert.All(history, text => Assert.DoesNotContain(ModelVocabulary.Unknown, dataset.Vocabulary.EncodeText(text)));
        var historyOnly = history.SelectMany(gpt2.Encode).Distinct().Count(id => !words.Any(w => gpt2.Encode(" " + w).SequenceEqual([id])));
        Assert.InRange(dataset.Vocabulary.Count, words.Count + historyOnly + 2, words.Count + historyOnly + 10);
    }

    [Fact]
    public void Synthetic_DefaultVocabulary_KnowsEveryTokenOfTheDefaultPrompt()
    {
        // The walkthrough's prompt as typed (no leading space): GPT-2's "The", " transformer", ... " in", none unknown.
        var ids = TestData.Synthetic.Vocabulary.EncodeText("The transformer architecture was first introduced in");
        Assert.Equal(7, ids.Length);
        Assert.DoesNotContain(ModelVocabulary.Unknown, ids);
        Assert.Equal(SyntheticGrammar.HistoryOpening, TestData.Synthetic.Vocabulary.DecodeText(ids));
    }

    [Fact]
    public void Synthetic_BadInputs_ThrowClearErrors()
    {
        var corpus = new SyntheticCorpus(seed: 1);
        var gpt2 = TokenEncodings.Get(TokenEncodings.Gpt2);
        Assert.Throws<ArgumentOutOfRangeException>(() => TokenDataset.Synthetic(corpus, gpt2, blockSize: 0, 10, 10));
        var tooShort = Assert.Throws<ArgumentException>(() => TokenDataset.Synthetic(corpus, gpt2, blockSize: 8, 10, 10));
        Assert.Contains("more than the block size 8", tooShort.Message, StringComparison.Ordinal);
        var tooFew = Assert.Throws<ArgumentException>(() => TokenDataset.Synthetic(corpus, gpt2, blockSize: 64, 1, 1));
        Assert.Contains("does not fit the streams", tooFew.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => TokenDataset.Synthetic(corpus, gpt2, blockSize: 64, 0, 10));

        var dataset = TestData.SmallSynthetic();
        Assert.Throws<ArgumentOutOfRangeException>(() => dataset.TrainBatch(1, 1, microBatch: 2, 0, microBatchesPerReplica: 2, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => dataset.TrainBatch(1, 1, 0, replica: -1, 1, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => dataset.TrainBatch(1, 1, 0, 0, 1, batchSize: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => dataset.ValidationBatches(0).ToList());
    }

    [Fact]
    public void Text_BlockLongerThanValidation_Throws()
    {
        var corpus = TextCorpus.FromText("short", new string('a', 90) + new string('b', 10));
        var chars = TokenEncodings.Get(TokenEncodings.Char);
        Assert.Equal(90 - 9, TokenDataset.Text(corpus, chars, blockSize: 9).TrainWindowCount);
        var error = Assert.Throws<ArgumentException>(() => TokenDataset.Text(corpus, chars, blockSize: 10));
        Assert.Contains("validation 10", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FromDescriptor_Synthetic_RebuildsTheSameDataset()
    {
        var dataset = TestData.SmallSynthetic();
        var rebuilt = TokenDataset.FromDescriptor(dataset.Descriptor);
        Assert.Equal(dataset.Descriptor, rebuilt.Descriptor);
        Assert.Equal(dataset.TrainTokens.ToArray(), rebuilt.TrainTokens.ToArray());
        Assert.Equal(dataset.EntropyFloor, rebuilt.EntropyFloor);
        Assert.Equal(dataset.TrainBatch(3, 4, 0, 0, 1, 8).Inputs, rebuilt.TrainBatch(3, 4, 0, 0, 1, 8).Inputs);

        var json = System.Text.Json.JsonSerializer.Serialize(dataset.Descriptor);
        Assert.Equal(dataset.Descriptor, System.Text.Json.JsonSerializer.Deserialize<DatasetDescriptor>(json));

        var future = dataset.Descriptor with { GrammarVersion = SyntheticGrammar.Version + 1 };
        Assert.Throws<InvalidDataException>(() => TokenDataset.FromDescriptor(future));
    }

    [Fact]
    public void FromDescriptor_Text_VerifiesTheHash()
    {
        var text = string.Concat(Enumerable.Repeat("to be or not to be, that is the question. ", 20));
        var corpus = TextCorpus.FromText("hamlet", text);
        var dataset = TokenDataset.Text(corpus, TokenEncodings.Get(TokenEncodings.Gpt2), blockSize: 16);
        var rebuilt = TokenDataset.FromDescriptor(dataset.Descriptor, TextCorpus.FromText("again", text));
        Assert.Equal(dataset.ValidationTokens.ToArray(), rebuilt.ValidationTokens.ToArray());

        var other = TextCorpus.FromText("hamlet", text + "!");
        var mismatch = Assert.Throws<InvalidDataException>(() => TokenDataset.FromDescriptor(dataset.Descriptor, other));
        Assert.Contains("is not the text", mismatch.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidDataException>(() => TokenDataset.FromDescriptor(dataset.Descriptor));
    }
}
