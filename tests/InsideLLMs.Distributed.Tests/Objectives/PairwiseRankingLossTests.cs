using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Rlhf;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Objectives;

/// <summary>The reward model's objective on a ranking small enough to check by hand.</summary>
public sealed class PairwiseRankingLossTests
{
    private const long Ignored = GptStage.IgnoreIndex;

    /// <summary>
    /// One ranking of K = 3 completions, scores (B, T, 1) = (3, 2, 1): completion 0 scores 0 at position 1, completion 1
    /// scores 0 at position 0 (a shorter row; its position 1 is padding), completion 2 scores ln 3 at position 1. The
    /// order is [2, 0, 1], so the pairs are (2 over 0) and (2 over 1) with margin ln 3, −log σ(ln 3) = ln(4/3), and (0
    /// over 1) with margin 0, −log σ(0) = ln 2: the ranking's loss is (2 ln(4/3) + ln 2) / 3. With 2 rankings in the step
    /// the backward tensor is that over 2, and d/ds of −log σ(s_a − s_b) is −(1 − σ) for a and +(1 − σ) for b: s₂ gets
    /// (−1/4 − 1/4) / 6 = −1/12, s₀ (1/4 − 1/2) / 6 = −1/24, s₁ (1/4 + 1/2) / 6 = 1/8, and every other position 0.
    /// </summary>
    [Fact]
    public void Loss_HandCheckedRanking_IsBradleyTerryOverEveryPairScaledByThePairsAndTheStepsRankings()
    {
        using var scope = NewDisposeScope();
        var scores = tensor(new float[] { 9f, 0f, 0f, 7f, -4f, MathF.Log(3) }, [3, 2, 1]).requires_grad_(true);
        var targets = new ObjectiveTargets([Ignored, 1, 2, Ignored, Ignored, 0], BatchSize: 3, BlockSize: 2, StepTargetCount: 2);

        var term = new PairwiseRankingLoss(3).Loss(scores, targets);
        term.Backward.backward();

        var expected = ((2 * Math.Log(4.0 / 3.0)) + Math.Log(2)) / 3;
        Assert.Equal(expected, term.Value, 1e-5);
        Assert.Equal(BradleyTerry.Loss([0, 0, Math.Log(3)], [2, 0, 1]).Loss, term.Value, 1e-5);
        Assert.Equal(1, term.Weight);
        Assert.Equal(expected / 2, term.Backward.item<float>(), 1e-5);
        float[] gradient = [0f, -1f / 24, 1f / 8, 0f, 0f, -1f / 12];
        var actual = scores.grad!.data<float>().ToArray();
        for (var i = 0; i < gradient.Length; i++)
        {
            Assert.Equal(gradient[i], actual[i], 1e-6);
        }
    }

    [Fact]
    public void Evaluate_TwoRankings_SumsTheirLossesAndCountsThem()
    {
        using var scope = NewDisposeScope();
        var scores = tensor(new float[] { 1f, 0f, 0f, 2f }, [4, 1, 1]);
        var targets = new ObjectiveTargets([0, 1, 1, 0], BatchSize: 4, BlockSize: 1);

        var (sum, count) = new PairwiseRankingLoss(2).Evaluate(scores, targets);

        Assert.Equal(2, count);
        Assert.Equal(BradleyTerry.Loss([1, 0], [0, 1]).Loss + BradleyTerry.Loss([0, 2], [1, 0]).Loss, sum, 1e-5);
    }

    [Theory]
    [InlineData(new long[] { 0, Ignored, 1, Ignored, 0, Ignored }, 3, 1, "holds a multiple of 2 rows")]
    [InlineData(new long[] { 0, 1, 1, Ignored }, 2, 2, "marks two score positions")]
    [InlineData(new long[] { Ignored, Ignored, 1, Ignored }, 2, 2, "Row 0 marks no score position")]
    [InlineData(new long[] { 0, Ignored, 0, Ignored }, 2, 2, "not a free place")]
    [InlineData(new long[] { 0, Ignored, 2, Ignored }, 2, 2, "place 2")]
    public void Loss_RowsThatAreNotWholeRankings_AreRefusedNamingTheRow(long[] marks, int rows, int time, string message)
    {
        using var scope = NewDisposeScope();
        var scores = zeros(rows, time, 1);
        var targets = new ObjectiveTargets(marks, rows, time, StepTargetCount: 4);

        var error = Assert.Throws<ArgumentException>(() => new PairwiseRankingLoss(2).Loss(scores, targets));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Loss_OfLogitsInsteadOfScores_SaysTheHeadIsWrong()
    {
        using var scope = NewDisposeScope();
        var targets = new ObjectiveTargets([0, 1], 2, 1, StepTargetCount: 1);

        var error = Assert.Throws<ArgumentException>(() => new PairwiseRankingLoss(2).Loss(zeros(2, 1, 5), targets));

        Assert.Contains("score head", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(10)]
    public void Constructor_KOutsideTwoToNine_IsRefused(int k) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new PairwiseRankingLoss(k));
}
