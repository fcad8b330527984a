using InsideLLMs.Distributed.Contracts.Training;

namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>
/// New positions of a session for one stage: token IDs (int64 bytes) for the first stage, hidden states (1, T, C) for the
/// others. <see cref="Start"/> is the position of the first new token, which must equal what the stage has cached.
/// </summary>
[GenerateSerializer, Immutable, Alias("StageForward")]
public sealed record StageForward(
    [property: Id(0)] string Session,
    [property: Id(1)] long Revision,
    [property: Id(2)] int Start,
    [property: Id(3)] byte[]? Tokens,
    [property: Id(4)] TensorMessage? Hidden);
