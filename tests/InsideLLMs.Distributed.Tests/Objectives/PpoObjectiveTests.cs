using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Maths.Objectives;
using InsideLLMs.Distributed.Maths.Rlhf;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Objectives;

/// <summary>
/// PPO's policy and value objectives as the engine's last stage will run them, against examples worked by hand and
/// against <see cref="PpoMath"/>'s plain-number version of the same formulas.
/// </summary>
public sealed class PpoObjectiveTests
{
    private const long Ignored = GptStage.IgnoreIndex;
    private static readonly double LnQuarter = Math.Log(0.25);

    /// <summary>
    /// Uniform logits over 4 tokens (log π = ln 0.25 for each), three completion tokens and one ignored position:
    /// ρ = e^0.1 with A = 2 (inside the clip range: −2.210342), ρ = e^0.5 with A = 1 (clipped to 1.2: −1.2), ρ = e^0.5
    /// with A = −1 (the pessimistic branch keeps the unclipped 1.648721). Sum −1.761621 over 3 tokens, one clipped,
    /// approximate KL ½ mean(0.01, 0.25, 0.25) = 0.085, entropy ln 4.
    /// </summary>
    [Fact]
    public void PolicyLoss_HandWorkedExample_SumClipFractionKlAndGradient()
    {
        using var scope = NewDisposeScope();
        var objective = new PpoPolicyLoss(clip: 0.2);
        var targets = PolicyTargets([2, 1, Ignored, 3], old: [LnQuarter - 0.1, LnQuarter - 0.5, 0, LnQuarter - 0.5], advantages: [2, 1, 0, -1], stepTokens: 6);
        var logits = zeros(1, 4, 4, requires_grad: true);

        var term = objective.Loss(logits, targets);
        term.Backward.backward();

        Assert.Equal(-2.210342 - 1.2 + 1.648721, term.Value, 1e-5);
        Assert.Equal(3, term.Weight);
        var (clipFraction, kl, entropy) = objective.Statistics(logits, targets);
        Assert.Equal(1.0 / 3, clipFraction, 1e-6);
        Assert.Equal(0.085, kl, 1e-6);
        Assert.Equal(Math.Log(4), entropy, 1e-5);
        Assert.Equal(term.Value / 3, PpoMath.PolicyLoss([LnQuarter, LnQuarter, LnQuarter], [LnQuarter - 0.1, LnQuarter - 0.5, LnQuarter - 0.5], [2, 1, -1], 0.2).Loss, 1e-5);

        // d(−A ρ)/d logit_k = −A ρ (1[k = a] − 0.25), divided by the step's 6 tokens; the clipped token gets none.
        var gradient = logits.grad!.view(4, 4).data<float>().ToArray();
        Assert.Equal(-2.210342 * 0.75 / 6, gradient[(0 * 4) + 2], 1e-5);
        Assert.Equal(-2.210342 * -0.25 / 6, gradient[(0 * 4) + 0], 1e-5);
        Assert.All(gradient[4..12], g => Assert.Equal(0, g));
        Assert.Equal(1.648721 * 0.75 / 6, gradient[(3 * 4) + 3], 1e-5);
        Assert.Equal(1.648721 * -0.25 / 6, gradient[(3 * 4) + 1], 1e-5);
    }

    /// <summary>Any logits, at a sampling temperature of 0.7: the objective's sum equals PpoMath's mean times the tokens.</summary>
    [Fact]
    public void PolicyLoss_AtATemperature_EqualsPpoMathOnTheSameNumbers()
    {
        using var scope = NewDisposeScope();
        var random = new Random(3);
        const int b = 2, t = 5, v = 7;
        const double temperature = 0.7;
        var logitValues = Enumerable.Range(0, b * t * v).Select(_ => (float)((random.NextDouble() * 4) - 2)).ToArray();
        var tokens = Enumerable.Range(0, b * t).Select(i => i % 3 == 0 ? Ignored : random.Next(v)).ToArray();
        var old = Enumerable.Range(0, b * t).Select(_ => (random.NextDouble() * -3) - 0.1).ToArray();
        var advantages = Enumerable.Range(0, b * t).Select(_ => (random.NextDouble() * 4) - 2).ToArray();
        var targets = PolicyTargets(tokens, old, advantages, stepTokens: 100, batch: b, block: t);

        var term = new PpoPolicyLoss(0.2, temperature).Loss(tensor(logitValues, [b, t, v]), targets);

        var counted = Enumerable.Range(0, b * t).Where(i => tokens[i] != Ignored).ToArray();
        var fresh = counted.Select(i =>
        {
            var row = logitValues.Skip(i * v).Take(v).Select(z => z / temperature).ToArray();
            var max = row.Max();
            var log = Math.Log(row.Sum(z => Math.Exp(z - max))) + max;
            return row[tokens[i]] - log;
        }).ToArray();
        var expected = PpoMath.PolicyLoss(fresh, [.. counted.Select(i => old[i])], [.. counted.Select(i => advantages[i])], 0.2);
        Assert.Equal(expected.Loss * counted.Length, term.Value, 1e-4);
        Assert.Equal(counted.Length, term.Weight);
    }

    /// <summary>
    /// Values 0.5, 1.0, −0.3 against old values 0.4, 0.5, 0.0 and returns 1, 2, −1 (clip 0.2): the first inside the
    /// range (0.25), the second clipped to 0.7 (1.69 beats 1), the third clipped to −0.2 (0.64 beats 0.49): ½ x 2.58.
    /// </summary>
    [Fact]
    public void ValueLoss_HandWorkedExample_AndPpoMath()
    {
        using var scope = NewDisposeScope();
        var targets = new ObjectiveTargets([5, 5, Ignored, 5], 1, 4, StepTargetCount: 3)
        {
            Ppo = new PpoTokens(new float[4], new float[4], [0.4f, 0.5f, 9f, 0f], [1f, 2f, 9f, -1f]),
        };
        var values = tensor(new[] { 0.5f, 1.0f, 7f, -0.3f }, [1, 4, 1]).requires_grad_();

        var term = new PpoValueLoss(0.2).Loss(values, targets);
        term.Backward.backward();

        Assert.Equal(1.29, term.Value, 1e-5);
        Assert.Equal(3, term.Weight);
        Assert.Equal(1.29 / 3, PpoMath.ValueLoss([0.5, 1.0, -0.3], [0.4, 0.5, 0.0], [1, 2, -1], 0.2).Loss, 1e-5);
        // Only the unclipped token moves the value: d ½(V − R)² / dV = V − R = −0.5, over the step's 3 tokens.
        var gradient = values.grad!.data<float>().ToArray();
        Assert.Equal(-0.5 / 3, gradient[0], 1e-5);
        Assert.Equal([0f, 0f, 0f], gradient[1..]);
    }

    [Fact]
    public void Objectives_WithoutTheRolloutsData_OrWithBadShapes_AreRefusedNamingTheProblem()
    {
        using var scope = NewDisposeScope();
        var policy = new PpoPolicyLoss();
        var bare = new ObjectiveTargets([1, 2], 1, 2, StepTargetCount: 2);
        Assert.Contains("per-token data", Assert.Throws<ArgumentException>(() => policy.Loss(zeros(1, 2, 4), bare)).Message, StringComparison.Ordinal);

        var shortData = bare with { Ppo = new PpoTokens(new float[1], new float[2], new float[2], new float[2]) };
        Assert.Contains("one value per position", Assert.Throws<ArgumentException>(() => policy.Loss(zeros(1, 2, 4), shortData)).Message, StringComparison.Ordinal);

        var full = bare with { Ppo = new PpoTokens(new float[2], new float[2], new float[2], new float[2]) };
        Assert.Contains("does not match", Assert.Throws<ArgumentException>(() => policy.Loss(zeros(2, 2, 4), full)).Message, StringComparison.Ordinal);
        Assert.Contains("one value per position", Assert.Throws<ArgumentException>(() => new PpoValueLoss().Loss(zeros(1, 2, 4), full)).Message, StringComparison.Ordinal);

        var none = full with { Targets = [Ignored, Ignored] };
        Assert.Contains("at least one completion token", Assert.Throws<ArgumentException>(() => policy.Loss(zeros(1, 2, 4), none)).Message, StringComparison.Ordinal);

        var undercounted = full with { StepTargetCount = 1 };
        Assert.Contains("must cover", Assert.Throws<ArgumentException>(() => policy.Loss(zeros(1, 2, 4), undercounted)).Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new PpoPolicyLoss(clip: 1.5));
    }

    private static ObjectiveTargets PolicyTargets(long[] tokens, double[] old, double[] advantages, long stepTokens, int batch = 1, int block = 4) =>
        new(tokens, batch, block, stepTokens)
        {
            Ppo = new PpoTokens([.. old.Select(x => (float)x)], [.. advantages.Select(x => (float)x)], new float[tokens.Length], new float[tokens.Length]),
        };
}
