using InsideLLMs.Distributed.Maths.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Objectives;

/// <summary>
/// What a PPO update needs beside the sampled tokens, one float per position of the (B, T) batch, read only where the
/// targets are not <see cref="GptStage.IgnoreIndex"/> (the completion's tokens): the log-probability each token had
/// under the policy that sampled it (at the sampling temperature), its whitened advantage, the value the value model gave
/// it then, and its return (the value model's target).
/// </summary>
public sealed record PpoTokens(float[] OldLogProbs, float[] Advantages, float[] OldValues, float[] Returns);

/// <summary>
/// PPO's policy objective (Schulman et al. 2017, as the RLHF implementations apply it per token): over the completion's
/// tokens, Σ max(−A ρ, −A clip(ρ, 1 − ε, 1 + ε)) with ρ = exp(log π(a) − log π_old(a)), log π from the logits divided by
/// the sampling temperature. Value is that sum, Weight the tokens, and the backward is divided by the tokens of the whole
/// step (<see cref="ObjectiveTargets.StepTargetCount"/>), so the step's loss is the mean over every token of the batch,
/// as <see cref="Rlhf.PpoMath.PolicyLoss"/> computes it in plain numbers.
/// </summary>
public sealed class PpoPolicyLoss : TrainingObjective
{
    public PpoPolicyLoss(double clip = 0.2, double temperature = 1.0)
    {
        if (!(clip > 0 && clip < 1) || !(temperature > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(clip), $"PPO's clip range is in (0, 1) and the temperature positive; got {clip} and {temperature}.");
        }

        Clip = clip;
        Temperature = temperature;
    }

    public override ObjectiveKind Kind => ObjectiveKind.PpoPolicy;

    public double Clip { get; }

    public double Temperature { get; }

    public override ObjectiveTerm Loss(Tensor output, ObjectiveTargets targets)
    {
        var surrogate = Surrogate(output, targets);
        using var scale = (1.0 / StepTokens(targets, surrogate.Count)).ToScalar();
        return new ObjectiveTerm(surrogate.Sum.mul(scale), surrogate.Sum.item<float>(), surrogate.Count);
    }

    public override (double LossSum, long Count) Evaluate(Tensor output, ObjectiveTargets targets)
    {
        using var noGrad = no_grad();
        var surrogate = Surrogate(output, targets);
        return (surrogate.Sum.item<float>(), surrogate.Count);
    }

    /// <summary>
    /// The statistics PPO reports per update, over the completion's tokens: the share where the clip binds, the approximate
    /// KL to the sampling policy (½ mean (log π − log π_old)²) and the policy's mean entropy at the sampling temperature.
    /// </summary>
    public (double ClipFraction, double ApproximateKl, double Entropy) Statistics(Tensor output, ObjectiveTargets targets)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var surrogate = Surrogate(output, targets);
        var entropy = -(surrogate.LogProbabilities.exp() * surrogate.LogProbabilities).sum(1).mean().item<float>();
        return (surrogate.Clipped.sum().item<long>() / (double)surrogate.Count, surrogate.Difference.square().mean().item<float>() / 2, entropy);
    }

    /// <summary>The clipped surrogate's sum over the completion's tokens, their count, where the clip binds, log π − log π_old, and log π over the vocabulary (n, V).</summary>
    private (Tensor Sum, long Count, Tensor Clipped, Tensor Difference, Tensor LogProbabilities) Surrogate(Tensor output, ObjectiveTargets targets)
    {
        var ppo = Check(output, targets, logits: true);
        var all = LogProbabilities(output, targets, out var positions, out var tokens);
        var taken = all.gather(1, tokens.unsqueeze(1)).squeeze(1);
        var old = tensor(ppo.OldLogProbs).index_select(0, positions);
        var advantages = tensor(ppo.Advantages).index_select(0, positions);
        var difference = taken - old;
        var ratio = difference.exp();
        using var low = (1 - Clip).ToScalar();
        using var high = (1 + Clip).ToScalar();
        var unclipped = -advantages * ratio;
        var bounded = -advantages * ratio.clamp(low, high);
        return (maximum(unclipped, bounded).sum(), positions.shape[0], bounded.gt(unclipped), difference, all);
    }

    /// <summary>log softmax(logits / T) at the completion's positions (n, V), which positions, and the tokens taken there.</summary>
    private Tensor LogProbabilities(Tensor output, ObjectiveTargets targets, out Tensor positions, out Tensor tokens)
    {
        var flat = tensor(targets.Targets);
        using var ignored = GptStage.IgnoreIndex.ToScalar();
        positions = flat.ne(ignored).nonzero().view(-1);
        tokens = flat.index_select(0, positions);
        var logits = output.view(-1, output.shape[^1]).index_select(0, positions);
        using var t = Temperature.ToScalar();
        return nn.functional.log_softmax(logits.div(t), 1);
    }

    internal static PpoTokens Check(Tensor output, ObjectiveTargets targets, bool logits)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(targets);
        var ppo = targets.Ppo ?? throw new ArgumentException("A PPO objective needs the rollout's per-token data (old log-probabilities, advantages, old values, returns) beside the tokens.");
        var cells = (long)targets.BatchSize * targets.BlockSize;
        if (ppo.OldLogProbs.Length != cells || ppo.Advantages.Length != cells || ppo.OldValues.Length != cells || ppo.Returns.Length != cells)
        {
            throw new ArgumentException($"The rollout's per-token data must have one value per position of the {targets.BatchSize} x {targets.BlockSize} batch.");
        }

        if (output.shape.Length != 3 || output.shape[0] != targets.BatchSize || output.shape[1] != targets.BlockSize || (!logits && output.shape[2] != 1))
        {
            throw new ArgumentException($"The output [{string.Join(", ", output.shape)}] does not match the {targets.BatchSize} x {targets.BlockSize} batch{(logits ? "" : " of one value per position")}.");
        }

        if (targets.Counted == 0)
        {
            throw new ArgumentException("A PPO batch needs at least one completion token (a target that is not ignored).");
        }

        return ppo;
    }

    internal static double StepTokens(ObjectiveTargets targets, long count) =>
        targets.StepTargetCount >= count
            ? targets.StepTargetCount
            : throw new ArgumentException($"The step's completion token count ({targets.StepTargetCount}) must cover this micro-batch's {count}.");
}

/// <summary>
/// <see cref="PpoPolicyLoss.Statistics"/> summed over micro-batches, each mean weighted by its completion tokens, so a
/// step split over micro-batches, replicas or stages reports what one forward of its whole batch would.
/// </summary>
public readonly record struct PpoStatisticSums(double ClippedTokens, double KlSum, double EntropySum, long Tokens)
{
    public static PpoStatisticSums Of((double ClipFraction, double ApproximateKl, double Entropy) means, long tokens) =>
        new(means.ClipFraction * tokens, means.ApproximateKl * tokens, means.Entropy * tokens, tokens);

    public PpoStatisticSums Add(PpoStatisticSums other) =>
        new(ClippedTokens + other.ClippedTokens, KlSum + other.KlSum, EntropySum + other.EntropySum, Tokens + other.Tokens);

    /// <summary>Clip fraction, approximate KL and entropy over all the tokens (NaN when there were none).</summary>
    public (double ClipFraction, double ApproximateKl, double Entropy) Means =>
        Tokens == 0 ? (double.NaN, double.NaN, double.NaN) : (ClippedTokens / Tokens, KlSum / Tokens, EntropySum / Tokens);
}

/// <summary>
/// PPO's value objective on a value model (the reward model's backbone and score head, read at every position): over the
/// completion's tokens, ½ Σ max((V − R)², (V_old + clip(V − V_old, ±ε) − R)²). Value, Weight and the backward's divisor
/// as for <see cref="PpoPolicyLoss"/>; in plain numbers <see cref="Rlhf.PpoMath.ValueLoss"/>.
/// </summary>
public sealed class PpoValueLoss : TrainingObjective
{
    public PpoValueLoss(double clip = 0.2)
    {
        if (!(clip > 0))
        {
            throw new ArgumentOutOfRangeException(nameof(clip), clip, "The value clip range is positive.");
        }

        Clip = clip;
    }

    public override ObjectiveKind Kind => ObjectiveKind.PpoValue;

    public double Clip { get; }

    public override ObjectiveTerm Loss(Tensor output, ObjectiveTargets targets)
    {
        var (sum, count) = Squared(output, targets);
        using var scale = (1.0 / PpoPolicyLoss.StepTokens(targets, count)).ToScalar();
        return new ObjectiveTerm(sum.mul(scale), sum.item<float>(), count);
    }

    public override (double LossSum, long Count) Evaluate(Tensor output, ObjectiveTargets targets)
    {
        using var noGrad = no_grad();
        var (sum, count) = Squared(output, targets);
        return (sum.item<float>(), count);
    }

    private (Tensor Sum, long Count) Squared(Tensor output, ObjectiveTargets targets)
    {
        var ppo = PpoPolicyLoss.Check(output, targets, logits: false);
        using var ignored = GptStage.IgnoreIndex.ToScalar();
        using var low = (-Clip).ToScalar();
        using var high = Clip.ToScalar();
        using var one = 1.ToScalar();
        var positions = tensor(targets.Targets).ne(ignored).nonzero().view(-1);
        var values = output.view(-1).index_select(0, positions);
        var old = tensor(ppo.OldValues).index_select(0, positions);
        var returns = tensor(ppo.Returns).index_select(0, positions);
        var bounded = old.add((values - old).clamp(low, high), one);
        var loss = maximum((values - returns).square(), (bounded - returns).square());
        using var half = 0.5.ToScalar();
        return (loss.sum().mul(half), positions.shape[0]);
    }
}
