namespace InsideLLMs.Distributed.Contracts.Inference;

/// <summary>
/// One pipeline stage of a published version (key: <c>{version}/{stage}</c>): its slice of the model and one KV cache per
/// generation session. A forward pass runs this stage's layers and hands the hidden states to the next stage; the last
/// stage answers with the logits of the last position, which travel back along the chain.
/// </summary>
public interface IInferenceStageGrain : IGrainWithStringKey
{
    /// <returns>Logits of the last position, shape (V).</returns>
    Task<Training.TensorMessage> ForwardAsync(StageForward request);

    /// <summary>Frees the session's cache here and on the later stages.</summary>
    Task EndSessionAsync(string session);

    /// <summary>What this stage holds and where: for the architecture view (activates the stage and loads its weights).</summary>
    Task<InferenceStageInfo> DescribeAsync();
}
