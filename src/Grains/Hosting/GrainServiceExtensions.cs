using InsideLLMs.Distributed.Grains.Training;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Orleans.Serialization;
using Orleans.Storage;

namespace InsideLLMs.Distributed.Grains.Hosting;

public static class GrainServiceExtensions
{
    /// <summary>
    /// What the training grains need in a silo: the compute threads (section "Compute"), how live inspection refreshes (section "Inspection"), the dataset cache and,
    /// unless the host registered one, an event publisher that drops events.
    /// </summary>
    public static IServiceCollection AddTrainingServices(this IServiceCollection services, IConfiguration? configuration = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = configuration?.GetSection(ComputeOptions.Section).Get<ComputeOptions>() ?? new ComputeOptions();
        services.TryAddSingleton(options);
        var inspection = configuration?.GetSection(InspectionOptions.Section).Get<InspectionOptions>() ?? new InspectionOptions();
        if (!(inspection.LiveRefreshSeconds >= 0))
        {
            throw new ArgumentException($"Inspection:LiveRefreshSeconds must be zero or more; got {inspection.LiveRefreshSeconds}.");
        }

        services.TryAddSingleton(inspection);
        services.TryAddSingleton(AdmissionOptions.From(configuration));
        services.TryAddSingleton<CorpusLocator>();
        services.TryAddSingleton(RlhfOptions.From(configuration));
        services.TryAddSingleton<RlhfClock>();
        services.TryAddSingleton<ComputeScheduler>();
        services.TryAddSingleton<DatasetCache>();
        services.TryAddSingleton<TrainingMetrics>();
        services.TryAddSingleton<ITrainingEventPublisher, NoTrainingEventPublisher>();
        services.TryAddSingleton<IRlhfEventPublisher, NoRlhfEventPublisher>();
        if (!services.Any(d => d.ServiceType == typeof(StagePlacementDirector)))
        {
            services.AddPlacementDirector<StagePlacement, StagePlacementDirector>();
        }

        return services;
    }

    /// <summary>
    /// Stores the grains' state with Orleans' own serializer instead of the providers' default JSON. That JSON (Newtonsoft,
    /// DefaultValueHandling.Ignore) drops every value equal to its type's default, so a spec read back after a failover
    /// had EvalBatches 8 instead of null (the whole split) and CheckpointInterval / EvalInterval 50 / 250 instead of 0;
    /// it also could not read the compiler's collection-expression list types back. The binary form is what every
    /// contract's round-trip test checks (ContractSerializationTests), and checkpoint bytes stay bytes instead of base64.
    /// </summary>
    public static OptionsBuilder<TOptions> UseOrleansStateSerializer<TOptions>(this OptionsBuilder<TOptions> options)
        where TOptions : class, IStorageProviderSerializerOptions
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.Configure<Serializer>((storage, serializer) => storage.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer));
    }
}
