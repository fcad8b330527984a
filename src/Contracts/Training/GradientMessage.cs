namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>The loss's gradient with respect to the hidden states stage s received, sent back to stage s - 1.</summary>
[GenerateSerializer, Immutable, Alias("GradientMessage")]
public sealed record GradientMessage(
    [property: Id(0)] long Step,
    [property: Id(1)] int MicroBatch,
    [property: Id(2)] TensorMessage Gradient,
    [property: Id(3)] long SentAtMicroseconds);
