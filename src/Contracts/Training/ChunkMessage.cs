namespace InsideLLMs.Distributed.Contracts.Training;

/// <summary>One transfer of the ring all-reduce: a chunk of a stage's flat gradient, from replica r to replica r + 1.</summary>
[GenerateSerializer, Immutable, Alias("ChunkMessage")]
public sealed record ChunkMessage(
    [property: Id(0)] long Step,
    [property: Id(1)] int Round,
    [property: Id(2)] byte[] Data);
