using InsideLLMs.Distributed.Maths.Data;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Rlhf;
using InsideLLMs.Distributed.Maths.Tokenization;
using InsideLLMs.Distributed.Tests.Data;

namespace InsideLLMs.Distributed.Tests.Rlhf;

public sealed class RankingDatasetTests
{
    private static ModelVocabulary Vocabulary => TestData.Synthetic.Vocabulary;

    private static readonly Lazy<RankingDataset> Built = new(() =>
        RankingDataset.Synthetic(new SyntheticCorpus(3), Vocabulary, blockSize: 64, completions: 4, count: 200, noise: 0, seed: 3));

    [Fact]
    public void TrainBatch_EveryRowMarksItsClosingEod_WithItsPlaceInAWholeRanking()
    {
        var batch = Built.Value.TrainBatch(seed: 5, step: 2, microBatch: 1, replica: 1, microBatchesPerReplica: 2, batchSize: 8, replicas: 2);

        Assert.Equal(8, batch.BatchSize);
        Assert.Equal(2 * 2 * 2, batch.StepTargetCount); // rankings in the step: R x M x B / K
        var places = new List<long>();
        for (var row = 0; row < 8; row++)
        {
            var marked = Enumerable.Range(0, 64).Where(i => batch.Targets[(row * 64) + i] != GptStage.IgnoreIndex).ToArray();
            var position = Assert.Single(marked);
            Assert.Equal(ModelVocabulary.EndOfDocument, batch.Inputs[(row * 64) + position]); // the closing EOD
            Assert.Equal(ModelVocabulary.EndOfDocument, batch.Inputs[row * 64]); // and the row starts as the policy's rows do
            places.Add(batch.Targets[(row * 64) + position]);
        }

        Assert.Equal([0L, 1, 2, 3], places.Take(4).Order());
        Assert.Equal([0L, 1, 2, 3], places.Skip(4).Order());
    }

    [Fact]
    public void TrainBatch_IsAPureFunctionOfItsSlot_SoReplicasAndOneProcessReadTheSameRankings()
    {
        var data = Built.Value;
        var split = Enumerable.Range(0, 2).SelectMany(r => Enumerable.Range(0, 2).Select(m => data.TrainBatch(9, 4, m, r, 2, 4, 2)));
        var whole = Enumerable.Range(0, 4).Select(m => data.TrainBatch(9, 4, m, 0, 4, 4, 1));

        Assert.Equal(whole.SelectMany(b => b.Inputs), split.SelectMany(b => b.Inputs));
        Assert.Equal(whole.SelectMany(b => b.Targets), split.SelectMany(b => b.Targets));
    }

    [Fact]
    public void Synthetic_RanksByThePreferenceRule_AndHoldsOutWholePrompts()
    {
        var data = Built.Value;
        foreach (var ranking in data.TrainRankings.Take(20))
        {
            var scores = ranking.Order.Select(c => PreferenceRule.Default.Score(ranking.Prompt, ranking.Completions[c])).ToArray();
            Assert.True(scores.Zip(scores.Skip(1)).All(p => p.First >= p.Second), $"ranking {ranking.Id} is not in the rule's order");
        }

        Assert.NotEmpty(data.ValidationRankings);
        Assert.All(data.ValidationRankings, r => Assert.True(InstructionDataset.IsHeldOut(r.Prompt)));
        Assert.Empty(data.TrainRankings.Select(r => r.Prompt).Intersect(data.ValidationRankings.Select(r => r.Prompt)));
    }

    [Theory]
    [InlineData(6, "multiple of 4 rows")]
    [InlineData(2, "multiple of 4 rows")]
    public void TrainBatch_RowsThatCannotHoldWholeRankings_AreRefused(int batchSize, string message)
    {
        var error = Assert.Throws<ArgumentException>(() => Built.Value.TrainBatch(1, 0, 0, 0, 1, batchSize, 1));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Create_BadRankings_AreRefusedNamingTheRanking()
    {
        RankedCompletions Ranking(string id, int[] order, params string[] completions) => new(id, " describe the dog at the river", completions, order);

        Assert.Contains("hold none", Assert.Throws<InvalidDataException>(() => RankingDataset.Create("r", [], Vocabulary, 64, 2)).Message, StringComparison.Ordinal);
        Assert.Contains("Ranking 'k3' orders 3 completions; this reward model trains on rankings of 2",
            Assert.Throws<InvalidDataException>(() => RankingDataset.Create("r", [Ranking("k3", [0, 1, 2], "a", "b", "c")], Vocabulary, 64, 2)).Message, StringComparison.Ordinal);
        Assert.Contains("Ranking 'twice'",
            Assert.Throws<InvalidDataException>(() => RankingDataset.Create("r", [Ranking("twice", [1, 1], "a", "b")], Vocabulary, 64, 2)).Message, StringComparison.Ordinal);
        var error = Assert.Throws<InvalidDataException>(() => RankingDataset.Create("r", [Ranking("long", [0, 1], "a", string.Concat(Enumerable.Repeat(" the dog", 40)))], Vocabulary, 64, 2));
        Assert.Contains("Ranking 'long', completion 1", error.Message, StringComparison.Ordinal);
        Assert.Contains("more than the context of 64", error.Message, StringComparison.Ordinal);
    }
}
