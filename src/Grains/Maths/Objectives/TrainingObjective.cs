using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Objectives;

/// <summary>
/// What the last pipeline stage minimises. Every objective writes a step's loss as a ratio over the global batch,
/// L = Σ Value / Σ Weight over every micro-batch of every replica, and hands back for each micro-batch a tensor whose
/// backward is that micro-batch's share of ∇L; so the gradients accumulated over micro-batches and all-reduced over
/// replicas are the gradient of the whole step's loss, however the rows are cut.
/// </summary>
/// <remarks>
/// <para>Next-token cross-entropy (<see cref="NextTokenCrossEntropy"/>): every micro-batch has as many targets, so each
/// one's mean counts once (Weight 1) and its backward is scaled by 1 / (M x R).</para>
/// <para>Response-only cross-entropy (<see cref="ResponseCrossEntropy"/>): micro-batches hold different numbers of
/// response tokens, so each one's summed loss (Weight: its token count) is divided by the response tokens of the whole
/// step, which the batch carries in <see cref="ObjectiveTargets.StepTargetCount"/>.</para>
/// <para>The reward model (<see cref="PairwiseRankingLoss"/>): the last stage ends in a score head (a (C, 1)
/// projection of the final norm's output instead of the tied LM head), a ranking's K completions are K consecutive rows
/// and each row marks its last position with its place in the ranking; Value sums each ranking's Bradley-Terry loss
/// over its C(K,2) pairs (scaled by 1/C(K,2)), Weight counts rankings and StepTargetCount is the step's rankings. PPO
/// (<see cref="PpoPolicyLoss"/>, <see cref="PpoValueLoss"/>): the targets carry per-token float arrays
/// (<see cref="ObjectiveTargets.Ppo"/>: the old policy's log-probabilities, advantages, old values, returns) beside the
/// sampled tokens, whose targets mark the completion; the policy loss sums the clipped surrogate over those tokens and the
/// value loss a value head's clipped squared error, Weight and StepTargetCount count them. (The engine's batches do not
/// carry the float arrays yet: that, and the rollouts that fill them, is the next step.) No objective needs anything new from the engine: the stage grains, schedules,
/// all-reduce, checkpoints and the run's step rule only see Value, Weight and the backward tensor.</para>
/// </remarks>
public abstract class TrainingObjective
{
    public abstract ObjectiveKind Kind { get; }

    /// <summary>
    /// One micro-batch's loss in a training step. <paramref name="output"/> is the last stage's output (logits (B, T, V),
    /// or scores (B, T, 1) from a score head).
    /// The returned <see cref="ObjectiveTerm.Backward"/> belongs to the caller's dispose scope.
    /// </summary>
    public abstract ObjectiveTerm Loss(Tensor output, ObjectiveTargets targets);

    /// <summary>Validation without a graph: the summed loss and what it is summed over, so batches and stages add up exactly.</summary>
    public abstract (double LossSum, long Count) Evaluate(Tensor output, ObjectiveTargets targets);

    /// <summary>The objective a run's options name.</summary>
    /// <param name="rankingCompletions">K of a reward model's rankings; the other objectives ignore it.</param>
    public static TrainingObjective For(ObjectiveKind kind, int microBatchesPerStep, int rankingCompletions = 4) => kind switch
    {
        ObjectiveKind.Pretrain => new NextTokenCrossEntropy(microBatchesPerStep),
        ObjectiveKind.Sft => new ResponseCrossEntropy(),
        ObjectiveKind.Reward => new PairwiseRankingLoss(rankingCompletions),
        ObjectiveKind.PpoPolicy => new PpoPolicyLoss(),
        ObjectiveKind.PpoValue => new PpoValueLoss(),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown training objective."),
    };

    /// <summary>The head a model trained with <paramref name="kind"/> ends in: a score head for a reward model, the language head otherwise.</summary>
    public static Model.StageHead HeadFor(ObjectiveKind kind) => kind is ObjectiveKind.Reward or ObjectiveKind.PpoValue ? Model.StageHead.Score : Model.StageHead.Language;

    /// <summary>Σ −log p(target) over the targets that are not <see cref="Model.GptStage.IgnoreIndex"/>, and their count.</summary>
    protected static (double LossSum, long Count) SummedCrossEntropy(Tensor logits, ObjectiveTargets targets)
    {
        var target = targets.Tensor().view(-1);
        var sum = nn.functional.cross_entropy(
            logits.view(-1, logits.shape[^1]), target, ignore_index: Model.GptStage.IgnoreIndex, reduction: nn.Reduction.Sum);
        return (sum.item<float>(), targets.Counted);
    }
}

/// <summary>
/// One micro-batch's share of a step's loss. <paramref name="Backward"/>: call backward on it (its graph leads to the
/// parameters). <paramref name="Value"/> and <paramref name="Weight"/>: the step's loss is Σ Value / Σ Weight.
/// </summary>
public sealed record ObjectiveTerm(Tensor Backward, double Value, double Weight);

/// <summary>
/// The targets of one micro-batch: (B, T) model IDs, <see cref="Model.GptStage.IgnoreIndex"/> where nothing is
/// scored. <paramref name="StepTargetCount"/>: the scored targets of the whole step's global batch (every micro-batch
/// of every replica), which objectives that normalise per token divide by; 0 when the data does not say.
/// </summary>
public sealed record ObjectiveTargets(long[] Targets, int BatchSize, int BlockSize, long StepTargetCount = 0)
{
    /// <summary>A PPO batch's per-token rollout data (<see cref="PpoTokens"/>); null for every other objective.</summary>
    public PpoTokens? Ppo { get; init; }

    /// <summary>Targets that count in the loss.</summary>
    public long Counted => Targets.LongCount(t => t != Model.GptStage.IgnoreIndex);

    public Tensor Tensor() => tensor(Targets, [BatchSize, BlockSize], dtype: ScalarType.Int64);
}

/// <summary>The objectives a run can train with.</summary>
public enum ObjectiveKind
{
    /// <summary>Next-token cross-entropy on every target: pre-training.</summary>
    Pretrain,

    /// <summary>Cross-entropy on response tokens only: supervised fine-tuning on instruction/response pairs.</summary>
    Sft,

    /// <summary>Bradley-Terry over every pair of each ranking, on a score head: the reward model.</summary>
    Reward,

    /// <summary>PPO's clipped surrogate on the completion's tokens, from a rollout's per-token data: the policy.</summary>
    PpoPolicy,

    /// <summary>PPO's clipped value loss on a score head read at every completion token: the value model.</summary>
    PpoValue,
}
