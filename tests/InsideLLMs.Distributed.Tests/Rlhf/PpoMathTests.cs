using InsideLLMs.Distributed.Maths.Rlhf;

namespace InsideLLMs.Distributed.Tests.Rlhf;

/// <summary>
/// PPO's step on a three-token completion, every number worked by hand: β 0.1, score 1.5, γ 1, λ 0.95, clip 0.2.
/// </summary>
public sealed class PpoMathTests
{
    private static readonly double[] LogProbs = [-1.0, -0.5, -2.0];
    private static readonly double[] ReferenceLogProbs = [-1.2, -0.5, -1.0];
    private static readonly double[] Values = [0.5, 0.8, 1.0];

    [Fact]
    public void TokenRewards_AreTheKlPenalty_WithTheScoreOnTheLastToken()
    {
        // -0.1 x (-1.0 + 1.2) = -0.02; -0.1 x 0 = 0; -0.1 x (-2.0 + 1.0) = 0.1, plus the score 1.5.
        var rewards = PpoMath.TokenRewards(LogProbs, ReferenceLogProbs, score: 1.5, beta: 0.1);

        Assert.Equal([-0.02, 0, 1.6], rewards.Select(r => Math.Round(r, 12)));
    }

    [Fact]
    public void Gae_WalksBackFromTheLastToken()
    {
        // t2: δ = 1.6 + 0 - 1.0 = 0.6, A = 0.6; t1: δ = 0 + 1.0 - 0.8 = 0.2, A = 0.2 + 0.95 x 0.6 = 0.77;
        // t0: δ = -0.02 + 0.8 - 0.5 = 0.28, A = 0.28 + 0.95 x 0.77 = 1.0115. Returns A + V.
        var (advantages, returns) = PpoMath.Gae([-0.02, 0, 1.6], Values, gamma: 1, lambda: 0.95);

        Assert.Equal([1.0115, 0.77, 0.6], advantages.Select(a => Math.Round(a, 12)));
        Assert.Equal([1.5115, 1.57, 1.6], returns.Select(r => Math.Round(r, 12)));
    }

    [Fact]
    public void PolicyLoss_ClipsTheRatioWhereItLeavesTheBand()
    {
        // ratios e^0.1 = 1.1052, e^-0.2 = 0.8187 (inside 0.8-1.2), e^0.5 = 1.6487 (clipped to 1.2 on a positive advantage):
        // (-1.0115 x 1.1052 - 0.77 x 0.8187 - 0.6 x 1.2) / 3 = -0.82277; one token of three clipped; ½ mean of 0.01, 0.04, 0.25.
        var (loss, clipFraction, approximateKl) = PpoMath.PolicyLoss([-0.9, -0.7, -1.5], LogProbs, [1.0115, 0.77, 0.6], clip: 0.2);

        Assert.Equal(-0.8227676878345213, loss, 12);
        Assert.Equal(1.0 / 3, clipFraction, 12);
        Assert.Equal(0.05, approximateKl, 12);
    }

    [Fact]
    public void PolicyLoss_NegativeAdvantage_ClipsBelow()
    {
        // A = -1, ratio e^-0.5 = 0.6065: -A ρ = 0.6065, -A clip(ρ) = 0.8 -> the larger, 0.8, clipped.
        var (loss, clipFraction, _) = PpoMath.PolicyLoss([-1.5], [-1.0], [-1.0], clip: 0.2);

        Assert.Equal(0.8, loss, 12);
        Assert.Equal(1.0, clipFraction);
    }

    [Fact]
    public void ValueLoss_KeepsTheWorseOfTheClippedAndUnclippedError()
    {
        // t0: V 0.7 (step 0.2, at the clip) vs R 1.5115: 0.65853225; t1: 0.9 vs 1.57: 0.4489;
        // t2: V 1.5 moved 0.5, clipped to 1.2: max(0.01, 0.16) = 0.16. ½ x 1.26743225 / 3.
        var (loss, clipFraction) = PpoMath.ValueLoss([0.7, 0.9, 1.5], Values, [1.5115, 1.57, 1.6], clip: 0.2);

        Assert.Equal(0.21123870833333339, loss, 12);
        Assert.Equal(1.0 / 3, clipFraction, 12);
    }

    [Fact]
    public void Whiten_GivesMeanZeroAndUnitSpreadOverTheBatch()
    {
        var whitened = PpoMath.Whiten([[1.0115, 0.77], [0.6]]);

        Assert.Equal(1.2892088756409108, whitened[0][0], 1e-9);
        Assert.Equal(-0.1411614618810487, whitened[0][1], 1e-9);
        Assert.Equal(-1.1480474137598606, whitened[1][0], 1e-9);
    }

    [Fact]
    public void Score_IsClipped_AndPenalisedWithoutAnEndToken()
    {
        Assert.Equal(3.0, PpoMath.Score(7.5, ended: true, clip: 3, missingEndPenalty: 1));
        Assert.Equal(-1.5, PpoMath.Score(-0.5, ended: false, clip: 3, missingEndPenalty: 1));
    }

    [Fact]
    public void AdaptKl_RaisesBetaWhenTheKlIsAboveTarget_ByAtMostTwentyPercentAHorizon()
    {
        // KL 9 against 6: error clipped to 0.2; 64 completions of a 10,000 horizon: β x (1 + 0.2 x 0.0064).
        Assert.Equal(0.100128, PpoMath.AdaptKl(0.1, kl: 9, target: 6, horizon: 10_000, completions: 64), 12);
        Assert.Equal(0.1 * (1 - (0.2 * 64 / 10_000.0)), PpoMath.AdaptKl(0.1, kl: 3, target: 6, horizon: 10_000, completions: 64), 12); // -0.5 clipped to -0.2
    }

    [Fact]
    public void ExplainedVariance_IsOneForPerfectValues_ZeroForTheMean()
    {
        Assert.Equal(1.0, PpoMath.ExplainedVariance([1, 2, 3], [1, 2, 3]), 12);
        Assert.Equal(0.0, PpoMath.ExplainedVariance([2, 2, 2], [1, 2, 3]), 12);
    }

    [Fact]
    public void BradleyTerry_AllPairsOfOneRanking_ScaledByOneOverCK2()
    {
        // Scores 2, 0, 1 ranked [0, 2, 1]: margins 1 (0 over 2), 2 (0 over 1), 1 (2 over 1): (2 log(1 + e^-1) + log(1 + e^-2)) / 3.
        var (loss, accuracy) = BradleyTerry.Loss([2, 0, 1], [0, 2, 1]);

        Assert.Equal(0.2511504620264728, loss, 12);
        Assert.Equal(1.0, accuracy);
        Assert.Equal(2.0 / 3, BradleyTerry.Loss([2, 0, 1], [2, 0, 1]).PairAccuracy, 12); // 2 over 0 is the one pair the scores disagree with
        Assert.Equal(1000, BradleyTerry.LogOnePlusExp(1000), 1e-9); // no overflow
    }
}
