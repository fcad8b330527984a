namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>Hidden states of one micro-batch, sent forward from stage s to stage s + 1 of the same replica.</summary>
[GenerateSerializer, Immutable, Alias("ActivationMessage")]
public sealed record ActivationMessage(
    [property: Id(0)] long Step,
    [property: Id(1)] int MicroBatch,
    [property: Id(2)] TensorMessage Hidden,
    [property: Id(3)] long SentAtMicroseconds);
