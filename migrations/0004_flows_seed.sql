-- Up Migration
-- The meter event dictionary: event ids as Emlite meters report them in their event log
-- (specs/emop.md §5.10). Event 52 appears daily with the snapshots but has no known name.

insert into flows.meter_event_log_type (event_type, name, description) values
  (1, 'BM_OVER_CURRENT', null), (2, 'BM_FAULTY_CONTACTOR', null), (3, 'BM_REVERSE_ENERGY_DETECT', null),
  (4, 'BM_TERMINAL_COVER_REMOVED', null), (5, 'BM_WATCHDOG_RESET', null), (6, 'BM_NV_WRITE_EXCEEDED', null),
  (7, 'BM_METROLOGY_ERROR', null), (8, 'BM_MEMORY_ERROR', null), (9, 'BM_MODULE_REMOVED', null),
  (10, 'BM_MAGNETIC_FRAUD', null), (11, 'BM_NON_LEGAL_TIME', null), (15, 'BM_SPAD_1_WRITE', null),
  (16, 'BM_SPAD_2_WRITE', null), (17, 'DSP_ERROR', null), (18, 'BM_COMMS_ERROR', null), (19, 'GW_COMMS_ERROR', null),
  (20, 'PF_TAG_1_ERROR', null), (21, 'PF_TAG_2_ERROR', null), (22, 'SPARE_0020', null), (23, 'SPARE_0040', null),
  (24, 'SPARE_0080', null), (25, 'NON_LEGAL_TIME', null), (26, 'MEMORY_TYPE', null), (27, 'MEMORY_ERROR', null),
  (28, 'WATCHDOG_RESET', null), (29, 'SW_IMAGE_WDOG', null), (30, 'SW_IMAGE_HES_PREVIOUS', null),
  (31, 'SW_IMAGE_APPLIED', null), (32, 'SW_IMAGE_BAD', null), (33, 'EVENT_POWER_UP', 'The meter powered up.'),
  (34, 'EVENT_POWER_DN', 'The meter lost power.'), (35, 'EVENT_IMAGE_RECEIVED', null), (36, 'EVENT_LOG_RESET_ID', null),
  (37, 'EVENT_IMAGE_ERROR', null), (38, 'DAILY_LOG_SNAPSHOT', 'Daily log snapshot taken.'),
  (39, 'BILLING_LOG_SNAPSHOT', 'Billing log snapshot taken.'), (40, 'DO_BIND_COMMAND', null),
  (41, 'DO_UNBIND_COMMAND', null), (42, 'NEW_IMAGE_APPLIED', null), (43, 'WATCHDOG_IMAGE_APPLIED', null),
  (44, 'PREVIOUS_IMAGE_APPLIED', null), (52, 'UNNAMED_52', 'Seen daily alongside the snapshots; meaning unknown.'),
  (61, 'HES_MSG_PENDING', null), (62, 'SM_COMMS_ERROR', null), (63, 'WAN_COMMS_ERROR', null),
  (64, 'HAN_COMMS_ERROR_GAS', null), (65, 'HAN_COMMS_ERROR_IHU', null), (66, 'HAN_API_NOT_RESPONDING', null),
  (67, 'SPARE_0040_2', null), (68, 'SPARE_0080_2', null), (69, 'NON_LEGAL_TIME_2', null), (70, 'MEMORY_TYPE_2', null),
  (71, 'MEMORY_ERROR_2', null), (72, 'WATCHDOG_RESET_2', null), (73, 'SW_IMAGE_WDOG_2', null),
  (74, 'SW_IMAGE_HES_PREVIOUS_2', null), (75, 'SW_IMAGE_APPLIED_2', null), (76, 'SW_IMAGE_BAD_2', null),
  (77, 'EVENT_IMAGE_RECEIVED_2', null), (78, 'EVENT_LOG_RESET_ID_2', null), (80, 'HAN_DEVICE_JOINED', null),
  (81, 'HAN_DEVICE_LEFT', null), (83, 'INVALID_WAN_MESSAGE', null), (84, 'EVENT_POWER_UP_2', null),
  (85, 'EVENT_POWER_DOWN', null), (86, 'LAST_GASP_SENT_TO_HES', null), (87, 'ALARM_SENT_TO_HES', null),
  (88, 'EVENT_IMAGE_ERROR_2', null), (89, 'GW_DO_UNBIND_COMMAND', null), (90, 'GW_DO_BIND_COMMAND', null),
  (91, 'GW_NEW_IMAGE_APPLIED', null), (92, 'GW_WATCHDOG_IMAGE_APPLIED', null), (93, 'GW_PREVIOUS_IMAGE_APPLIED', null),
  (94, 'GSM_RESET_NO_CONNECTION', 'The GSM module reset after losing its connection.'), (95, 'STATUS_WORD_RESET', null),
  (96, 'ZIGBEE_GET_SW_VER_ERR', null), (97, 'ZIGBEE_SEND_MAC_LINK_ERR', null), (98, 'ZIGBEE_SHUTDOWN_ERR', null),
  (99, 'ZIGBEE_ACTIVE_IMAGE_ERR', null), (104, 'LISTENING_SOCKET_ABORTED', null), (105, 'AUTO_ROAMING_DISABLE', null)
on conflict (event_type) do nothing;
