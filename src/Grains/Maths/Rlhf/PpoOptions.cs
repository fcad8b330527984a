using System.Globalization;

namespace InsideLLMs.Distributed.Maths.Rlhf;

/// <summary>
/// One PPO run's hyper-parameters. The defaults follow the public RLHF implementations scaled to this model: completions
/// sampled at temperature 1, per-token KL penalty to the frozen reference, the reward model's normalised score clipped
/// and added at the last token, GAE with γ 1 and λ 0.95, whitened advantages, clipped surrogate and value losses (ε 0.2),
/// several epochs of minibatches per batch of rollouts.
/// </summary>
public sealed record PpoOptions
{
    /// <summary>PPO iterations: each samples <see cref="Rollouts"/> completions and updates on them.</summary>
    public int Iterations { get; init; } = 200;

    /// <summary>Completions sampled per iteration, one per prompt.</summary>
    public int Rollouts { get; init; } = 16;

    /// <summary>Passes over each batch of rollouts.</summary>
    public int Epochs { get; init; } = 4;

    /// <summary>Optimizer steps per epoch: the rollouts are shuffled and cut into this many minibatches.</summary>
    public int MiniBatches { get; init; } = 2;

    public double PolicyLearningRate { get; init; } = 2e-5;

    public double ValueLearningRate { get; init; } = 1e-4;

    /// <summary>β, the KL penalty's coefficient at the start.</summary>
    public double KlCoefficient { get; init; } = 0.1;

    /// <summary>Adaptive KL (Ziegler et al.): the per-completion KL β is steered toward; null keeps β fixed.</summary>
    public double? KlTarget { get; init; }

    /// <summary>The adaptive controller's horizon, in completions.</summary>
    public double KlHorizon { get; init; } = 10_000;

    /// <summary>The normalised reward-model score is clipped to ±this before it becomes the last token's reward.</summary>
    public double ScoreClip { get; init; } = 5;

    /// <summary>Subtracted from the score of a completion that reached the token limit without the end token.</summary>
    public double MissingEndPenalty { get; init; } = 1;

    public double Gamma { get; init; } = 1;

    public double Lambda { get; init; } = 0.95;

    /// <summary>Tokens a completion may have (the end token included); the context's end comes first if nearer.</summary>
    public int MaxCompletionTokens { get; init; } = 24;

    public double GradClip { get; init; } = 1.0;

    /// <summary>The seed of the rollouts' sampling and of the minibatches' shuffles.</summary>
    public long Seed { get; init; } = 8;

    /// <summary>Sample completions shown per iteration.</summary>
    public int Samples { get; init; } = 4;

    public int Threads { get; init; } = Environment.ProcessorCount;

    /// <exception cref="ArgumentException">A value outside its range, named with the value given.</exception>
    public PpoOptions Validate()
    {
        Check(Iterations >= 1, nameof(Iterations), Iterations, "at least 1");
        Check(Rollouts >= 2, nameof(Rollouts), Rollouts, "at least 2 (advantages are whitened over the batch)");
        Check(Epochs >= 1, nameof(Epochs), Epochs, "at least 1");
        Check(MiniBatches >= 1 && MiniBatches <= Rollouts, nameof(MiniBatches), MiniBatches, $"from 1 to the rollouts ({Rollouts})");
        Check(PolicyLearningRate > 0 && PolicyLearningRate < 1, nameof(PolicyLearningRate), PolicyLearningRate, "in (0, 1)");
        Check(ValueLearningRate > 0 && ValueLearningRate < 1, nameof(ValueLearningRate), ValueLearningRate, "in (0, 1)");
        Check(KlCoefficient >= 0 && double.IsFinite(KlCoefficient), nameof(KlCoefficient), KlCoefficient, "0 or more");
        Check(KlTarget is null || KlTarget > 0, nameof(KlTarget), KlTarget ?? 0, "positive");
        Check(KlHorizon > 0, nameof(KlHorizon), KlHorizon, "positive");
        Check(ScoreClip > 0, nameof(ScoreClip), ScoreClip, "positive");
        Check(MissingEndPenalty >= 0, nameof(MissingEndPenalty), MissingEndPenalty, "0 or more");
        Check(Gamma > 0 && Gamma <= 1, nameof(Gamma), Gamma, "in (0, 1]");
        Check(Lambda >= 0 && Lambda <= 1, nameof(Lambda), Lambda, "in [0, 1]");
        Check(MaxCompletionTokens >= 1, nameof(MaxCompletionTokens), MaxCompletionTokens, "at least 1");
        Check(GradClip > 0, nameof(GradClip), GradClip, "positive");
        Check(Samples >= 0 && Samples <= Rollouts, nameof(Samples), Samples, $"from 0 to the rollouts ({Rollouts})");
        Check(Threads >= 1, nameof(Threads), Threads, "at least 1");
        return this;
    }

    private static void Check(bool ok, string name, double value, string range)
    {
        if (!ok)
        {
            throw new ArgumentException($"PPO's {name} must be {range}; got {value.ToString(CultureInfo.InvariantCulture)}.");
        }
    }
}
