using InsideLLMs.Distributed.Contracts.Inference;
using InsideLLMs.Distributed.Contracts.Training;
using InsideLLMs.Distributed.Grains.Hosting;
using InsideLLMs.Distributed.Grains.Inference;
using InsideLLMs.Distributed.Maths.Model;
using InsideLLMs.Distributed.Tests.Cluster;
using static TorchSharp.torch;

namespace InsideLLMs.Distributed.Tests.Inference;

/// <summary>The inspector grain's views of a published version and of the live run.</summary>
[Collection(ClusterCollection.Name)]
public sealed class InspectorTests(ClusterFixture fixture)
{
    private const string Prompt = "the cat was happy";

    private async Task<IInspectorGrain> InspectorAsync() =>
        fixture.Grains.GetGrain<IInspectorGrain>((await PublishedModel.GetAsync(fixture)).Name);

    [Fact]
    public async Task Qkv_NumbersSatisfyTheAttentionFormulas_AndMatchTheModelsOwnOutput()
    {
        var view = await (await InspectorAsync()).QkvAsync(Prompt, layer: 1, head: 1, token: 2);

        Assert.Equal(1 / Math.Sqrt(view.HeadSize), view.Scale, 12);
        var visible = Enumerable.Range(0, view.Keys.Length).Where(j => !view.Masked[j]).ToArray();
        Assert.Equal([0, 1, 2], visible);
        var scores = view.Keys.Select(k => k.Select((x, d) => (double)x * view.Query[d]).Sum() / Math.Sqrt(view.HeadSize)).ToArray();
        var max = visible.Max(j => scores[j]);
        var total = visible.Sum(j => Math.Exp(scores[j] - max));
        for (var j = 0; j < view.Keys.Length; j++)
        {
            Assert.Equal(scores[j], view.ScaledScores[j], 1e-5);
            Assert.Equal(view.Masked[j] ? 0 : Math.Exp(scores[j] - max) / total, view.Weights[j], 1e-5);
        }

        for (var d = 0; d < view.HeadSize; d++)
        {
            var weighted = visible.Sum(j => view.Weights[j] * view.Values[j][d]);
            Assert.Equal(weighted, view.Output[d], 1e-5);
            Assert.Equal(view.ModelOutput[d], view.Output[d], 1e-5);
        }
    }

    [Fact]
    public async Task Attention_EveryLayerAndHead_IsCausalAndRowsSumToOne()
    {
        var view = await (await InspectorAsync()).AttentionAsync(Prompt);

        var t = view.Tokens.Count;
        Assert.Equal(PublishedModel.Spec.Layers * PublishedModel.Spec.Heads, view.Heads.Count);
        foreach (var head in view.Heads)
        {
            Assert.Equal(t, head.Weights.Length);
            for (var i = 0; i < t; i++)
            {
                Assert.Equal(1.0, head.Weights[i].Sum(w => (double)w), 1e-5);
                Assert.All(head.Weights[i].Skip(i + 1), w => Assert.Equal(0f, w));
            }
        }
    }

    [Fact]
    public async Task NextToken_TopKAndTopP_KeepFewerTokensAndRenormalise()
    {
        var inspector = await InspectorAsync();
        var plain = await inspector.NextTokenAsync(new GenerationRequest(Prompt), top: 5);
        var filtered = await inspector.NextTokenAsync(new GenerationRequest(Prompt, Temperature: 0.5, TopK: 3), top: 5);

        Assert.Equal(plain.VocabularySize, plain.Kept);
        Assert.Equal(3, filtered.Kept);
        Assert.Equal(1.0, filtered.After.Sum(a => a.SampledProbability), 1e-9);
        Assert.Equal(plain.Before.Select(b => b.ModelId), filtered.Before.Select(b => b.ModelId)); // the model's own distribution is unchanged
    }

    [Fact]
    public async Task Lens_LastLayer_IsTheModelsPrediction()
    {
        var inspector = await InspectorAsync();
        var lens = await inspector.LensAsync(Prompt, position: null, top: 3);
        var next = await inspector.NextTokenAsync(new GenerationRequest(Prompt), top: 3);

        Assert.Equal(PublishedModel.Spec.Layers, lens.Layers.Count);
        Assert.Equal(lens.Tokens.Count - 1, lens.Position);
        Assert.Equal(next.Before.Select(b => b.ModelId), lens.Layers[^1].Top.Select(t => t.ModelId));
    }

    [Fact]
    public async Task Tokenize_GivesByteRangesEncodingIdsAndModelIds()
    {
        var view = await (await InspectorAsync()).TokenizeAsync("The cat");

        Assert.Equal("gpt2", view.Encoding);
        Assert.Equal(["The", " cat"], view.Tokens.Select(t => t.Text));
        Assert.Equal([464, 3797], view.Tokens.Select(t => t.SourceId));
        Assert.Equal(4, view.Tokens[1].ByteLength);
        Assert.True(view.Tokens[1].ModelId > 1); // " cat" is in the synthetic corpus's vocabulary
    }

    [Fact]
    public async Task Embeddings_HaveTheLexiconsCategories_AndNeighboursExcludeTheToken()
    {
        var inspector = await InspectorAsync();
        var view = await inspector.EmbeddingsAsync();
        var neighbours = await inspector.NeighboursAsync("cat", 5);

        Assert.Contains(view.Points, p => p.Text == " cat" && p.Group == "animals");
        Assert.NotNull(view.CategoryPurity);
        Assert.Equal(5, neighbours.Count);
        Assert.DoesNotContain(neighbours, n => n.Text == " cat");
    }

    [Fact]
    public async Task Architecture_ListsBothStageGrainsWithTheirSiloAndParameters()
    {
        var info = await PublishedModel.GetAsync(fixture);
        var view = await (await InspectorAsync()).ArchitectureAsync();

        Assert.Equal(2, view.Stages.Count);
        Assert.Equal([0], view.Stages[0].Layers);
        Assert.Equal([1], view.Stages[1].Layers);
        Assert.True(view.Stages[0].HasEmbedding && view.Stages[1].HasHead);
        Assert.All(view.Stages, s => Assert.False(string.IsNullOrEmpty(s.Silo)));
        var tied = (long)info.VocabularySize * PublishedModel.Spec.Width; // the last stage holds its own copy of the tied matrix
        Assert.Equal(info.ParameterCount + tied, view.Stages.Sum(s => s.ParameterCount));
    }

    [Fact]
    public async Task Live_InspectsTheRunsLatestWeights()
    {
        await PublishedModel.GetAsync(fixture);
        var live = fixture.Grains.GetGrain<IInspectorGrain>(InferenceNames.LivePrefix + PublishedModel.RunId);

        var fromRun = await live.NextTokenAsync(new GenerationRequest(Prompt), 3);
        var fromVersion = await (await InspectorAsync()).NextTokenAsync(new GenerationRequest(Prompt), 3);

        Assert.Equal(fromVersion.Before.Select(b => b.Logit), fromRun.Before.Select(b => b.Logit));
    }

    [Fact]
    public async Task TrainingToken_OfTheLiveRun_GivesTheTrueTokenTheProbabilityOfADirectForwardsLoss()
    {
        await PublishedModel.GetAsync(fixture);
        var live = fixture.Grains.GetGrain<IInspectorGrain>(InferenceNames.LivePrefix + PublishedModel.RunId);

        var view = await live.TrainingTokenAsync(step: null, position: null, top: 5);

        var spec = PublishedModel.Spec;
        Assert.Equal((spec.Steps, spec.Steps, spec.Context / 2), ((int)view.Step, (int)view.WeightsStep, view.Position));
        // The row the data shard served in the last step, through the run's weights directly: the whole row at once,
        // scored at the view's position only (every other target ignored).
        var data = new DatasetCache().Get(spec);
        var batch = data.TrainBatch(spec.Seed, spec.Steps - 1, microBatch: 0, replica: 0, spec.MicroBatches, spec.BatchSize);
        var row = batch.Inputs[..spec.Context];
        var targets = batch.Targets[..spec.Context].Select((t, i) => i == view.Position ? t : GptStage.IgnoreIndex).ToArray();
        var config = TrainingRunSpecs.Model(spec, data);
        using var model = InferenceModels.Build(
            config, StageSpec.Whole(config), await fixture.Grains.GetGrain<ITrainingRunGrain>(PublishedModel.RunId).GetParametersAsync());
        double loss;
        using (NewDisposeScope())
        using (no_grad())
        {
            var logits = model.Forward(tensor(row, [1, spec.Context], dtype: ScalarType.Int64)); // (1, T, V)
            loss = GptStage.Loss(logits, tensor(targets, [1, spec.Context], dtype: ScalarType.Int64)).item<float>();
        }

        Assert.Equal(row[..(view.Position + 1)], view.Context.Select(t => (long)t.ModelId));
        Assert.Equal(batch.Targets[view.Position], view.Target.ModelId);
        Assert.Equal(Math.Exp(-loss), view.TargetProbability, 1e-5);
        Assert.Equal(loss, view.Loss, 1e-4);
        Assert.Equal(5, view.Top.Count);
        Assert.Equal(view.Top.Select(t => t.Probability).OrderDescending(), view.Top.Select(t => t.Probability));
        Assert.Equal(view.TargetRank == 1, view.Top[0].ModelId == view.Target.ModelId);
    }

    [Theory]
    [InlineData(null, 32, "A training row has positions 0..31; got 32.")]
    [InlineData(null, -1, "A training row has positions 0..31; got -1.")]
    [InlineData(5L, 0, "have completed steps 1..4; got step 5")]
    [InlineData(0L, 0, "have completed steps 1..4; got step 0")]
    public async Task TrainingToken_StepOrPositionOutOfRange_NamesTheRange(long? step, int position, string message)
    {
        await PublishedModel.GetAsync(fixture);
        var live = fixture.Grains.GetGrain<IInspectorGrain>(InferenceNames.LivePrefix + PublishedModel.RunId);

        var error = await Assert.ThrowsAsync<ArgumentException>(() => live.TrainingTokenAsync(step, position, top: 5));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TrainingToken_OfAPublishedVersion_SaysItNeedsALiveRun()
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await (await InspectorAsync()).TrainingTokenAsync(null, null, 5));
        Assert.Contains("is a published version", error.Message, StringComparison.Ordinal);
        Assert.Contains(InferenceNames.LivePrefix, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(2, 0, 0, "layers 0..1; got 2")]
    [InlineData(-1, 0, 0, "layers 0..1; got -1")]
    [InlineData(0, 2, 0, "heads 0..1; got 2")]
    [InlineData(0, 0, 9, "tokens 0..3; got 9")]
    public async Task Qkv_UnknownLayerHeadOrToken_NamesTheRange(int layer, int head, int token, string message)
    {
        var error = await Assert.ThrowsAsync<ArgumentException>(async () => await (await InspectorAsync()).QkvAsync(Prompt, layer, head, token));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Inspect_UnknownVersionOrRun_NamesIt()
    {
        var version = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Grains.GetGrain<IInspectorGrain>("missing").AttentionAsync(Prompt));
        var run = await Assert.ThrowsAsync<ArgumentException>(() => fixture.Grains.GetGrain<IInspectorGrain>("live:missing").AttentionAsync(Prompt));
        Assert.Contains("Unknown version 'missing'", version.Message, StringComparison.Ordinal);
        Assert.Contains("Run 'missing' has never started", run.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// A greedy answer is the argmax at every step, and its log-probability is the sum of each token's log-softmax after
    /// EOD, the instruction and ".", computed here token by token from the version's whole model.
    /// </summary>
    [Fact]
    public async Task Answer_IsGreedy_AndItsLogProbabilityIsTheSumOverItsTokens()
    {
        const string instruction = " describe the cat at the river";
        var inspector = await InspectorAsync();
        var answer = await inspector.AnswerAsync(instruction, 12);
        var (model, vocabulary) = await PublishedModel.WholeModelAsync(fixture.Grains, PublishedModel.Version);
        using var _ = model;

        int[] context = [.. InsideLLMs.Distributed.Maths.Data.InstructionDataset.Prompt(instruction, vocabulary)];
        int[] tokens = [.. vocabulary.EncodeText(answer.Text), .. answer.Ended ? [InsideLLMs.Distributed.Maths.Tokenization.ModelVocabulary.EndOfDocument] : Array.Empty<int>()];
        Assert.Equal(answer.Tokens, tokens.Length); // the text re-encodes to the tokens generated (a greedy answer of this grammar does)
        var expected = 0.0;
        using (no_grad())
        {
            model.eval();
            foreach (var token in tokens)
            {
                using var scope = NewDisposeScope();
                var logits = model.Forward(tensor(context.Select(t => (long)t).ToArray(), [1, context.Length], dtype: ScalarType.Int64))[0, -1];
                Assert.Equal(logits.argmax().item<long>(), token); // greedy
                expected += nn.functional.log_softmax(logits, 0)[token].item<float>();
                context = [.. context, token];
            }
        }

        var measured = await inspector.AnswerLogProbabilityAsync(instruction, answer.Text, answer.Ended);
        Assert.Equal(expected, measured, 1e-3);
        await Assert.ThrowsAsync<ArgumentException>(() => inspector.AnswerAsync(" ", 12));
        await Assert.ThrowsAsync<ArgumentException>(() => inspector.AnswerAsync(instruction, 0));
    }
}
