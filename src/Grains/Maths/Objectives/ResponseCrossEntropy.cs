using TorchSharp;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Maths.Objectives;

/// <summary>
/// Supervised fine-tuning: cross-entropy on the response tokens only (the prompt's targets are
/// <see cref="Model.GptStage.IgnoreIndex"/>), averaged over every response token of the step. A micro-batch's summed
/// loss is divided by the step's response-token count, not by its own: a mean per micro-batch would weigh a token of a
/// short micro-batch more than one of a long one, and the result would change with M and R.
/// </summary>
public sealed class ResponseCrossEntropy : TrainingObjective
{
    public override ObjectiveKind Kind => ObjectiveKind.Sft;

    public override ObjectiveTerm Loss(Tensor output, ObjectiveTargets targets)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(targets);
        if (targets.StepTargetCount < 1)
        {
            throw new ArgumentException("Response-only cross-entropy needs the step's response-token count (the batch carries none).");
        }

        var counted = targets.Counted;
        if (counted > targets.StepTargetCount)
        {
            throw new ArgumentException($"The micro-batch scores {counted} tokens, more than the {targets.StepTargetCount} its step says it has.");
        }

        var sum = nn.functional.cross_entropy(
            output.view(-1, output.shape[^1]), targets.Tensor().view(-1), ignore_index: Model.GptStage.IgnoreIndex, reduction: nn.Reduction.Sum);
        using var scale = (1.0 / targets.StepTargetCount).ToScalar();
        return new ObjectiveTerm(sum.mul(scale), sum.item<float>(), counted);
    }

    public override (double LossSum, long Count) Evaluate(Tensor output, ObjectiveTargets targets) => SummedCrossEntropy(output, targets);
}
