using System.Diagnostics;
using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Maths.Pipeline;

namespace InsideLLMs.Distributed.Grains.Inference;

/// <summary>
/// One generation session: the prompt pass through the version's inference stages, then one single-position pass per
/// token through their KV caches, sampling each token here (a few hundred floats; the maths stays in the stages).
/// The stages free the session's caches when the stream ends, fails or is abandoned by its reader.
/// </summary>
public sealed class GenerationGrain : Grain, IGenerationGrain
{
    public async IAsyncEnumerable<GeneratedTokenInfo> GenerateAsync(GenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var started = Stopwatch.GetTimestamp();
        var key = this.GetPrimaryKeyString();
        var separator = key.IndexOf('/', StringComparison.Ordinal);
        var (versionName, session) = separator < 0 ? (key, Guid.NewGuid().ToString("N")) : (key[..separator], key[(separator + 1)..]);
        var version = GrainFactory.GetGrain<IModelVersionGrain>(versionName);
        var info = await version.GetInfoAsync();
        var vocabulary = InferenceModels.ReadVocabulary(await version.GetVocabularyAsync());
        var options = GenerationRules.Options(request, info.VocabularySize);
        var prompt = GenerationRules.Prompt(vocabulary, request.Prompt, info.Spec.Context);
        var stop = string.IsNullOrEmpty(request.Stop) ? null : request.Stop;
        var chooser = new TokenChooser(vocabulary, options);
        var first = GrainFactory.GetGrain<IInferenceStageGrain>(InferenceNames.StageKey(versionName, 0));
        var generated = new List<int>();
        try
        {
            var logits = await first.ForwardAsync(new StageForward(session, info.Revision, 0, TokenBytes.From([.. prompt.Select(id => (long)id)]), null));
            for (var index = 0; ; index++)
            {
                var position = prompt.Length + index - 1; // the position whose logits chose this token
                var token = chooser.Choose(Floats(logits.Data), index, position, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                generated.Add(token.ModelId);
                var finish = index + 1 >= request.MaxTokens ? "length"
                    : stop is not null && vocabulary.DecodeText(generated).Contains(stop, StringComparison.Ordinal) ? "stop"
                    : position + 1 >= info.Spec.Context ? "context" // the next token would need a position the model never learned
                    : null;
                yield return token with { FinishReason = finish };
                if (finish is not null)
                {
                    break;
                }

                logits = await first.ForwardAsync(new StageForward(session, info.Revision, position + 1, TokenBytes.From([token.ModelId]), null));
            }
        }
        finally
        {
            await first.EndSessionAsync(session);
            DeactivateOnIdle(); // a session grain is used once
        }
    }

    private static float[] Floats(byte[] data) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(data).ToArray();

}
