namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>What one stage of one replica did in a step's forward/backward phase.</summary>
/// <param name="LossSum">Last stage: the sum over its micro-batches of each one's loss term (pre-training: its mean loss; SFT: its summed response loss); 0 elsewhere.</param>
/// <param name="BubbleSeconds">Time waiting for an activation or gradient that its sender had not produced yet.</param>
/// <param name="MessagingSeconds">Time in transit: sending, and waiting for a message after its sender sent it.</param>
/// <param name="PeakStashedActivations">Most micro-batches held between their forward and backward at once.</param>
[GenerateSerializer, Immutable, Alias("StageStepReport")]
public sealed record StageStepReport(
    [property: Id(0)] int Stage,
    [property: Id(1)] int Replica,
    [property: Id(2)] string Silo,
    [property: Id(3)] double LossSum,
    [property: Id(4)] double ComputeSeconds,
    [property: Id(5)] double BubbleSeconds,
    [property: Id(6)] long ActivationBytesSent,
    [property: Id(7)] long GradientBytesSent,
    [property: Id(8)] int PeakStashedActivations,
    [property: Id(9)] IReadOnlyList<TraceSpan> Trace,
    [property: Id(10)] double MessagingSeconds)
{
    /// <summary>Last stage: the sum of its micro-batches' loss weights (pre-training: 1 each; SFT: response tokens); the step's loss is Σ LossSum / Σ LossWeight.</summary>
    [Id(11)] public double LossWeight { get; init; }

    /// <summary>A PPO policy's last stage: its micro-batches' clip fraction, approximate KL and entropy, each summed weighted by tokens, and the tokens; null otherwise.</summary>
    [Id(12)] public double[]? PpoStatisticSums { get; init; }
}
