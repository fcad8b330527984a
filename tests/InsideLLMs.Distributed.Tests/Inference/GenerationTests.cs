using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Grains.Inference;
using InsideLLMs.Distributed.Maths.Sampling;
using InsideLLMs.Distributed.Tests.Cluster;
using Xunit.Abstractions;

namespace InsideLLMs.Distributed.Tests.Inference;

/// <summary>
/// Generation through the version's 2-stage inference pipeline (KV caches in the stage grains) equals the single-process
/// model without a cache: the same tokens with the same seed, and logits within 1e-5.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class GenerationTests(ClusterFixture fixture, ITestOutputHelper output)
{
    private const string Prompt = "the cat";

    [Theory]
    [InlineData(true, 1.0, null, null, 0L)]
    [InlineData(false, 1.0, null, null, 7L)]
    [InlineData(false, 0.7, 5, 0.9, 11L)]
    public async Task Generate_ThroughTwoStagesWithCaches_EqualsTheSingleProcessModel(bool greedy, double temperature, int? topK, double? topP, long seed)
    {
        var info = await PublishedModel.GetAsync(fixture);
        Assert.Equal(2, info.Stages);
        var request = new GenerationRequest(Prompt, temperature, topK, topP, greedy, seed, MaxTokens: 12);

        var tokens = await GenerateAsync(info.Name, request);

        var (model, vocabulary) = await PublishedModel.WholeModelAsync(fixture.Grains, info.Name);
        using (model)
        {
            var prompt = vocabulary.EncodeText(Prompt);
            var expected = TextGenerator.Generate(model, prompt, PublishedModel.Options(request), request.MaxTokens).ToList();
            output.WriteLine($"cluster: {string.Join(" ", tokens.Select(t => t.ModelId))}; single process: {string.Join(" ", expected.Select(t => t.Id))}");
            Assert.Equal(expected.Select(t => t.Id), tokens.Select(t => t.ModelId));
            Assert.Equal(request.MaxTokens, tokens.Count);
            Assert.Equal("length", tokens[^1].FinishReason);
            Assert.All(tokens[..^1], t => Assert.Null(t.FinishReason));

            // The uncached whole model's logits at each step: every reported logit within 1e-5.
            var context = prompt.ToList();
            var inspector = new ModelInspector(model, vocabulary, 0, lexicon: null);
            var worst = 0.0;
            foreach (var token in tokens)
            {
                var reference = inspector.LastLogits(context);
                Assert.Equal(context.Count - 1, token.Position);
                foreach (var alternative in token.Alternatives.Append(new TokenAlternative(token.ModelId, 0, "", token.Logit, 0, 0)))
                {
                    worst = Math.Max(worst, Math.Abs(reference[alternative.ModelId] - alternative.Logit));
                }

                var probabilities = Sampler.Softmax(reference);
                Assert.Equal(probabilities[token.ModelId], token.Probability, 1e-5);
                Assert.Equal(expected[token.Index].Probability, token.SampledProbability, 1e-5);
                Assert.Equal(TokenChooser.AlternativeCount, token.Alternatives.Count);
                context.Add(token.ModelId);
            }

            output.WriteLine($"largest logit difference {worst:E2}");
            Assert.True(worst <= 1e-5, $"largest logit difference {worst}");
        }
    }

    [Fact]
    public async Task Generate_UntilTheContextIsFull_EndsWithContext()
    {
        var info = await PublishedModel.GetAsync(fixture);
        var tokens = await GenerateAsync(info.Name, new GenerationRequest(Prompt, Greedy: true, MaxTokens: 1000));

        var promptLength = (await PublishedModel.WholeModelAsync(fixture.Grains, info.Name)).Vocabulary.EncodeText(Prompt).Length;
        Assert.Equal(info.Spec.Context - promptLength + 1, tokens.Count);
        Assert.Equal("context", tokens[^1].FinishReason);
        Assert.Equal(info.Spec.Context - 1, tokens[^1].Position);
    }

    [Fact]
    public async Task Generate_WithStopText_EndsAfterTheTokenThatCompletesIt()
    {
        var info = await PublishedModel.GetAsync(fixture);
        var free = await GenerateAsync(info.Name, new GenerationRequest(Prompt, Greedy: true, MaxTokens: 8));
        var vocabulary = (await PublishedModel.WholeModelAsync(fixture.Grains, info.Name)).Vocabulary;
        var stop = free.Skip(1).First(t => t.ModelId > 1).Text; // a real token's text (not <eod> or <unk>)

        var stopped = await GenerateAsync(info.Name, new GenerationRequest(Prompt, Greedy: true, MaxTokens: 8, Stop: stop));

        // Greedy: the same tokens as the free run, up to the first one after which the text contains the stop text.
        var firstHit = Enumerable.Range(0, free.Count).First(i => vocabulary.DecodeText(free.Take(i + 1).Select(t => t.ModelId)).Contains(stop, StringComparison.Ordinal));
        Assert.Equal(firstHit + 1, stopped.Count);
        Assert.Equal("stop", stopped[^1].FinishReason);
    }

    [Fact]
    public async Task Generate_SameSessionKeyAfterTheEnd_StartsAFreshCache()
    {
        var info = await PublishedModel.GetAsync(fixture);
        var request = new GenerationRequest(Prompt, Seed: 3, MaxTokens: 5);
        var grain = fixture.Grains.GetGrain<IGenerationGrain>(InferenceNames.SessionKey(info.Name, "reused"));

        var first = await ToListAsync(grain.GenerateAsync(request));
        var second = await ToListAsync(grain.GenerateAsync(request));

        Assert.Equal(first.Select(t => t.ModelId), second.Select(t => t.ModelId));
        var stages = await fixture.Grains.GetGrain<IInspectorGrain>(info.Name).ArchitectureAsync();
        Assert.All(stages.Stages, s => Assert.Equal(0, s.Sessions)); // every session's cache was freed
    }

    [Theory]
    [InlineData("", 1.0, null, null, "prompt is empty")]
    [InlineData("the cat", 0.0, null, null, "Temperature must be a positive finite number")]
    [InlineData("the cat", double.NaN, null, null, "Temperature must be a positive finite number")]
    [InlineData("the cat", -1.0, null, null, "Temperature must be a positive finite number")]
    [InlineData("the cat", 1.0, 0, null, "top-k must be between 1 and the vocabulary size")]
    [InlineData("the cat", 1.0, 100_000, null, "top-k must be between 1 and the vocabulary size")]
    [InlineData("the cat", 1.0, null, 0.0, "top-p must be in (0, 1]")]
    [InlineData("the cat", 1.0, null, 1.5, "top-p must be in (0, 1]")]
    public async Task Generate_BadInput_IsRefusedWithItsReason(string prompt, double temperature, int? topK, double? topP, string message)
    {
        var info = await PublishedModel.GetAsync(fixture);
        var error = await Assert.ThrowsAsync<ArgumentException>(() => GenerateAsync(info.Name, new GenerationRequest(prompt, temperature, topK, topP)));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Generate_PromptLongerThanTheContext_SaysThePositionsDoNotExist()
    {
        var info = await PublishedModel.GetAsync(fixture);
        var prompt = string.Join(" ", Enumerable.Repeat("the cat", info.Spec.Context));

        var error = await Assert.ThrowsAsync<ArgumentException>(() => GenerateAsync(info.Name, new GenerationRequest(prompt)));

        Assert.Contains($"the model's context is {info.Spec.Context}", error.Message, StringComparison.Ordinal);
        Assert.Contains("positions that do not exist", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Generate_UnknownVersion_NamesIt()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => GenerateAsync("no-such-version", new GenerationRequest(Prompt)));
        Assert.Contains("Unknown version 'no-such-version'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_RunThatNeverStarted_IsRefused()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Grains.GetGrain<IModelVersionGrain>("orphan").PublishAsync("never-started"));
        Assert.Contains("Run 'never-started' has never started", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Catalog_ListsThePublishedVersionWithItsMetrics()
    {
        var info = await PublishedModel.GetAsync(fixture);
        var versions = await fixture.Grains.GetGrain<IModelCatalogGrain>(InferenceNames.CatalogKey).ListAsync();

        var listed = Assert.Single(versions, v => v.Name == info.Name);
        Assert.Equal(PublishedModel.RunId, listed.RunId);
        Assert.Equal(PublishedModel.Spec.Steps, listed.Step);
        Assert.NotNull(listed.LastLoss);
    }

    private async Task<List<GeneratedTokenInfo>> GenerateAsync(string version, GenerationRequest request) =>
        await ToListAsync(fixture.Grains.GetGrain<IGenerationGrain>(InferenceNames.SessionKey(version, Guid.NewGuid().ToString("N"))).GenerateAsync(request));

    private static async Task<List<T>> ToListAsync<T>(IAsyncEnumerable<T> items)
    {
        var list = new List<T>();
        await foreach (var item in items)
        {
            list.Add(item);
        }

        return list;
    }
}
