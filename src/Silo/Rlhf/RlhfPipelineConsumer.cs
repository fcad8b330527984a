using InsideLLMs.Distributed.Contracts.Rlhf;
using MassTransit;

namespace InsideLLMs.Distributed.Silo.Rlhf;

/// <summary>
/// The RLHF pipeline's transitions: each event that ends a stage, and each stored ranking, handed to the pipeline grain,
/// which starts the next stage. A cluster that cannot answer yet throws, so the message is retried.
/// </summary>
public sealed class RlhfPipelineConsumer(IGrainFactory grains) :
    IConsumer<RankingSubmitted>, IConsumer<SftCompleted>, IConsumer<RankingBatchReady>, IConsumer<RewardModelTrained>, IConsumer<PolicyUpdated>, IConsumer<ModelPublished>
{
    private IRlhfPipelineGrain Pipeline => grains.GetGrain<IRlhfPipelineGrain>(RlhfPipelineNames.Default);

    public Task Consume(ConsumeContext<RankingSubmitted> context) => Pipeline.OnRankingStoredAsync();

    public Task Consume(ConsumeContext<SftCompleted> context) => Pipeline.OnSftCompletedAsync(Message(context));

    public Task Consume(ConsumeContext<RankingBatchReady> context) => Pipeline.OnRankingBatchReadyAsync(Message(context));

    public Task Consume(ConsumeContext<RewardModelTrained> context) => Pipeline.OnRewardModelTrainedAsync(Message(context));

    public Task Consume(ConsumeContext<PolicyUpdated> context) => Pipeline.OnPolicyUpdatedAsync(Message(context));

    public Task Consume(ConsumeContext<ModelPublished> context) => Pipeline.OnModelPublishedAsync(Message(context));

    private static T Message<T>(ConsumeContext<T> context) where T : class =>
        (context ?? throw new ArgumentNullException(nameof(context))).Message;
}

/// <summary>The queue <c>rlhf-pipeline</c>, shared by every silo; a message the cluster cannot take yet is retried (10 tries, 1 s apart).</summary>
public sealed class RlhfPipelineConsumerDefinition : ConsumerDefinition<RlhfPipelineConsumer>
{
    public RlhfPipelineConsumerDefinition() => EndpointName = "rlhf-pipeline";

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<RlhfPipelineConsumer> consumerConfigurator, IRegistrationContext context)
    {
        ArgumentNullException.ThrowIfNull(endpointConfigurator);
        endpointConfigurator.UseMessageRetry(retry => retry.Interval(10, TimeSpan.FromSeconds(1)));
    }
}
